#!/usr/bin/env python
"""Run a study (configurations x seeds from a YAML file) and see where it stands.

    python src/study.py run studies/demo.yaml --jobs 2          # CPU: 2 runs at a time
    python src/study.py run studies/seed004.yaml --gpus 0,1,2,3  # one GPU per run
    python src/study.py run studies/seed004.yaml --backend slurm --partition gpu --time 600
    python src/study.py status results/demo                    # done, running, failed, left
    python src/study.py export results/demo docs/results/demo.json   # results to commit

A second ``run`` skips finished runs, resumes interrupted ones and retries
failed ones.  See docs/studies.md.
"""
import os
import sys

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chainer_compare.compat  # noqa: E402,F401  (before anything imports chainer)
from chainer_compare.errors import ArgumentParser, UserError, run_cli  # noqa: E402


def _gpus(text):
    try:
        gpus = [int(g) for g in text.split(',') if g.strip()]
    except ValueError:
        raise UserError('--gpus {!r}: give GPU ids separated by commas, e.g. 0,1,2,3'.format(text))
    if not gpus or min(gpus) < 0:
        raise UserError('--gpus {!r}: give GPU ids separated by commas, e.g. 0,1,2,3'.format(text))
    return gpus


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', metavar='{run,status,export}')
    sub.required = True
    run = sub.add_parser('run', help='run every unfinished run of a study file')
    run.add_argument('study', help='the study file (YAML), e.g. studies/demo.yaml')
    run.add_argument('--results', default='results',
                     help='where the study directory <results>/<name> goes (default: results)')
    run.add_argument('--backend', default='local', choices=['local', 'slurm'],
                     help='local: runs on this machine (default); slurm: a job array through '
                          'submitit')
    run.add_argument('--jobs', type=int, default=None,
                     help='local: runs at a time (default: one per --gpus entry, else 1); on '
                          'the CPU the cores are split between them')
    run.add_argument('--gpus', default=None,
                     help='local: GPU ids, one run per GPU at a time (repeat an id to share '
                          'it), e.g. 0,1,2,3; default: train on the CPU')
    run.add_argument('--retries', type=int, default=1,
                     help='how often a failed run is retried in this invocation (default: 1)')
    run.add_argument('--restart', action='append', default=[], metavar='CONFIG',
                     help='start this configuration (or run, or "all") over, moving its old '
                          'runs to .replaced/; needed after its flags changed (repeatable)')
    run.add_argument('--only', action='append', default=[], metavar='CONFIG',
                     help='run only this configuration or run (e.g. cnnbn or cnnbn_s1; '
                          'repeatable); the others are left as they are')
    from chainer_compare.study.slurm import add_slurm_flags
    add_slurm_flags(run)
    status = sub.add_parser('status', help='what is done, running, failed and left')
    status.add_argument('study_dir', help='the study directory, e.g. results/demo')
    status.add_argument('--json', action='store_true', help='the table as JSON')
    export = sub.add_parser('export', help='the results as one small JSON file to commit '
                                           '(flags, summaries, curves, provenance)')
    export.add_argument('study_dir', help='the study directory, e.g. results/fashion-mnist')
    export.add_argument('out', help='the JSON file to write, e.g. docs/results/STUDY.json')
    export.add_argument('--command', dest='command_line', default=None,
                        help='the command that ran the study, as the export should record it')
    args = parser.parse_args(argv)
    from chainer_compare.study import run_study, study_status
    if args.command == 'status':
        return study_status(args.study_dir, as_json=args.json)
    if args.command == 'export':
        from chainer_compare.study.export import export_study
        document = export_study(args.study_dir, args.out, args.command_line)
        print('wrote {} ({} runs)'.format(args.out, len(document['runs'])))
        return 0
    if args.backend == 'slurm' and (args.gpus or args.jobs):
        raise UserError('--gpus and --jobs are for the local backend; on Slurm use '
                        '--gpus-per-run and --max-parallel')
    gpus = _gpus(args.gpus) if args.gpus else None
    jobs = args.jobs or (len(gpus) if gpus else 1)
    if jobs < 1 or args.retries < 0:
        raise UserError('--jobs must be positive and --retries zero or positive')
    if gpus and args.jobs and args.jobs > len(gpus):
        raise UserError('--jobs {} with --gpus {}: more runs than GPUs; repeat an id in --gpus '
                        'to share a GPU'.format(args.jobs, args.gpus))
    return run_study(args.study, args.results, args.backend, jobs, gpus[:jobs] if gpus else None,
                     args.retries, args.restart, only=args.only, slurm_options=vars(args))


if __name__ == '__main__':
    run_cli(main)
