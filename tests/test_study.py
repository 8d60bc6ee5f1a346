"""Studies on the local backend: the study file, skip/resume/retry, signals, the table."""
import os
import signal

import pytest

from study_support import (epochs_logged, final_weights, make_workdir, read_rows, record,
                           run_study, start_study, train_processes, wait_for, write_study)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return make_workdir(tmp_path_factory.mktemp('study'))


# -- the study file ------------------------------------------------------------------------

def test_named_and_grid_configurations_expand_to_runs(tmp_path):
    from chainer_compare.study import load_study
    make_workdir(tmp_path, n_train=40)
    path = write_study(tmp_path, text='''\
name: expand
flags: {iter: 2, optimizer: adam, dataset: data/image.pkl, lr_decay_iter: [1]}
seeds: [3, 4]
configurations:
  plain: {model: cnn, batch-size: 32}
grid:
  model: [cnn, cnnbn]
  skip_depth: [true]
  dataset: {zca: data/image_norm_zca.pkl}
''')
    study = load_study(path)
    assert [r.name for r in study.runs] == [
        'plain_s3', 'plain_s4', 'cnn_on_zca_s3', 'cnn_on_zca_s4', 'cnnbn_on_zca_s3',
        'cnnbn_on_zca_s4']
    plain = study.runs[0]
    assert plain.argv == ['--batch_size', '32', '--dataset', 'data/image.pkl', '--iter', '2',
                          '--lr_decay_iter', '1', '--model', 'cnn', '--optimizer', 'adam',
                          '--seed', '3', '-p', 'plain_s3']
    assert plain.flags['batch_size'] == 32 and plain.flags['seed'] == 3
    assert 'prefix' not in plain.flags and 'gpu' not in plain.flags  # not part of identity
    grid = study.runs[2]
    assert '--skip_depth' in grid.argv and grid.flags['dataset'] == 'data/image_norm_zca.pkl'
    # identity: the same flags give the same hash, another seed another one
    assert plain.hash == load_study(path).runs[0].hash != study.runs[1].hash



def test_negative_switches_by_either_name(tmp_path):
    """no_fast_cpu: true and fast_cpu: false both pass --no_fast_cpu (it was dropped before)."""
    from chainer_compare.study import load_study
    make_workdir(tmp_path, n_train=40)
    path = write_study(tmp_path, text='''\
name: switches
flags: {iter: 1, model: cnn, dataset: data/image.pkl}
seeds: [1]
configurations:
  on: {}
  off_by_option: {no_fast_cpu: true}
  off_by_dest: {fast_cpu: false}
  on_by_option: {no_fast_cpu: false}
  on_by_dest: {fast_cpu: true}
''')
    runs = {r.name: r for r in load_study(path).runs}
    off = [name for name, run in runs.items() if any('fast' in a for a in run.argv)]
    assert sorted(off) == ['off_by_dest_s1', 'off_by_option_s1']
    assert '--no_fast_cpu' in runs['off_by_option_s1'].argv or \
        '--no-fast-cpu' in runs['off_by_option_s1'].argv

BAD_STUDIES = {
    'unknown flag': ('flags: {iter: 1, dataset: data/image.pkl, bogus: 1}\n'
                     'configurations: {a: {model: cnn}}\n', "unknown flag 'bogus'"),
    'unknown model': ('flags: {iter: 1, dataset: data/image.pkl}\n'
                      'configurations: {a: {model: resnet9000}}\n',
                      "configuration 'a': --model 'resnet9000' is not known"),
    'grid value of the wrong type': ('flags: {iter: 1, dataset: data/image.pkl}\n'
                                     'grid: {batch_size: [16, sixteen]}\n',
                                     "configuration 'sixteen': argument -b/--batch_size"),
    'switch given a number': ('flags: {iter: 1, dataset: data/image.pkl}\n'
                              'configurations: {a: {model: residual, skip_depth: 3}}\n',
                              "'skip_depth' is a switch"),
    'duplicate names': ('flags: {iter: 1, dataset: data/image.pkl}\n'
                        'configurations:\n  a: {model: cnn}\n  a: {model: cnnbn}\n',
                        "line 5: 'a' is given twice"),
    'grid name clashes with a named one': ('flags: {iter: 1, dataset: data/image.pkl}\n'
                                           'configurations: {cnn: {model: cnnbn}}\n'
                                           'grid: {model: [cnn]}\n',
                                           "configuration 'cnn' is defined twice"),
    'YAML syntax error': ('flags: {iter: 1\nconfigurations: {a: {model: cnn}}\n',
                          'not valid YAML at line 3'),
    'flag the runner sets': ('flags: {iter: 1, dataset: data/image.pkl, gpu: 0}\n'
                             'configurations: {a: {model: cnn}}\n', 'choose devices with --gpus'),
    'missing dataset': ('flags: {iter: 1, dataset: data/nothing.pkl}\n'
                        'configurations: {a: {model: cnn}}\n',
                        "configuration 'a': dataset data/nothing.pkl: no such file"),
    'seeds not integers': ('seeds: [1, two]\nconfigurations: {a: {model: cnn}}\n',
                           'seeds: give a list of integers'),
}


def test_unwritable_results_directory_is_one_line(workdir):
    blocker = workdir / 'not_a_dir'
    blocker.write_text('a file where a directory should be')
    path = write_study(workdir, name='nowhere')
    proc = run_study(workdir, 'run', path, '--results', blocker / 'results')
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert '--results' in proc.stderr and 'not_a_dir' in proc.stderr


@pytest.mark.parametrize('case', sorted(BAD_STUDIES))
def test_bad_study_file_is_one_line_and_starts_nothing(workdir, case):
    body, expected = BAD_STUDIES[case]
    path = write_study(workdir, name='bad', text='name: bad\n' + body)
    proc = run_study(workdir, 'run', path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'bad.yaml' in lines[0] and expected in lines[0], proc.stderr
    assert not os.path.exists(os.path.join(str(workdir), 'results', 'bad'))


# -- running, skipping, refusing changed runs ------------------------------------------------

def test_study_runs_then_skips_then_refuses_changed_flags(workdir):
    path = write_study(workdir, name='basic')
    first = run_study(workdir, 'run', path, '--jobs', '2')
    assert first.returncode == 0, first.stdout + first.stderr
    study_dir = workdir / 'results' / 'basic'
    rows = read_rows(study_dir)
    assert sorted(rows) == ['keras_s1', 'keras_s2']
    for name, row in rows.items():
        assert row['status'] == 'done' and row['exit_code'] == 0 and row['attempts'] == 1
        assert row['epoch'] == row['epochs'] == 3 and row['backend'] == 'local'
        assert row['host'] and row['start'] and row['end'] and row['wall_time_s'] > 0
        assert row['argv'][-2:] == ['-p', name] and len(row['hash']) == 16
        for f in ('log', 'args', 'metadata.json', 'summary.json', 'model_final.npz'):
            assert os.path.isfile(os.path.join(str(workdir), row['run_dir'], f))  # train.py's
    assert record(study_dir, 'keras_s1')['device'] == 'CPU, {} thread{}'.format(
        *((1, '') if (os.cpu_count() or 1) < 4 else ((os.cpu_count() or 1) // 2, 's')))
    assert (study_dir / 'study.yaml').read_text() == open(path).read()
    assert (study_dir / 'runs.csv').read_text().startswith('run,config,seed,status')

    again = run_study(workdir, 'run', path, '--jobs', '2')
    assert again.returncode == 0 and '2 done (skipped)' in again.stdout, again.stdout
    assert read_rows(study_dir)['keras_s1']['attempts'] == 1  # nothing rerun

    status = run_study(workdir, 'status', study_dir)
    assert status.returncode == 0 and 'study basic: 2 done' in status.stdout

    changed = write_study(workdir, name='basic',
                          text=open(path).read().replace('optimizer: adam', 'optimizer: rmsprop'))
    refused = run_study(workdir, 'run', changed)
    assert refused.returncode == 2
    assert "optimizer = 'adam', the study now asks for 'rmsprop'" in refused.stderr
    assert '--restart keras' in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert read_rows(study_dir)['keras_s1']['status'] == 'done'  # untouched

    restarted = run_study(workdir, 'run', changed, '--restart', 'keras', '--jobs', '2')
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert len(os.listdir(study_dir / '.replaced')) == 2  # old runs kept aside, not deleted
    assert read_rows(study_dir)['keras_s1']['status'] == 'done'

    exported = run_study(workdir, 'export', study_dir, workdir / 'export.json',
                         '--command', 'python src/study.py run basic.yaml')
    assert exported.returncode == 0, exported.stderr
    import json
    document = json.loads((workdir / 'export.json').read_text())
    assert document['study'] == 'basic' and 'rmsprop' in document['study_file']
    assert document['provenance']['command'] == 'python src/study.py run basic.yaml'
    assert document['provenance']['commit'] and document['provenance']['machine']['hosts']
    run = next(r for r in document['runs'] if r['run'] == 'keras_s1')
    assert run['summary']['status'] == 'finished' and len(run['curve']) == 3
    assert 'test/main/error' in run['curve'][-1] and run['status'] == 'done'
    (workdir / 'a_file').write_text('not a directory')
    refused = run_study(workdir, 'export', study_dir, workdir / 'a_file' / 'export.json')
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert 'a_file' in refused.stderr and 'cannot write there' in refused.stderr


def test_failed_run_does_not_stop_the_others_and_is_retried(workdir):
    broken = workdir / 'data_broken'
    broken.mkdir(exist_ok=True)
    (broken / 'image.pkl').write_bytes(b'not a pickle')
    path = write_study(workdir, name='failing', extra='  broken: {model: keras_mnist_cnn, '
                                                      'dataset: data_broken/image.pkl}\n')
    proc = run_study(workdir, 'run', path, '--jobs', '2', '--retries', '1')
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '2 failed (broken_s1, broken_s2)' in proc.stdout
    study_dir = workdir / 'results' / 'failing'
    rows = read_rows(study_dir)
    assert rows['keras_s1']['status'] == rows['keras_s2']['status'] == 'done'
    assert rows['broken_s1']['status'] == 'failed' and rows['broken_s1']['attempts'] == 2
    assert rows['broken_s1']['exit_code'] == 2
    status = run_study(workdir, 'status', study_dir)
    assert status.returncode == 1
    assert 'broken_s1 failed: train.py: error: data_broken' in status.stdout
    log = (study_dir / 'logs' / 'broken_s1.out').read_text()
    assert log.count('fresh attempt') == 2 and 'data_broken' in log


# -- interruption ----------------------------------------------------------------------------

def _kill_mid_study(workdir, path, study_dir, signum):
    proc = start_study(workdir, 'run', path, '--jobs', '2')
    wait_for(lambda: all(epochs_logged(study_dir / r) >= 1 for r in ('keras_s1', 'keras_s2')),
             what='the first epoch of both runs')
    proc.send_signal(signum)
    output = proc.communicate(timeout=120)[0]
    wait_for(lambda: not train_processes('results/' + study_dir.name), timeout=60,
             what='the runs to stop with the study')
    return proc.returncode, output


@pytest.mark.slow
def test_sigkill_half_way_then_run_again_equals_uninterrupted(workdir):
    reference = run_study(workdir, 'run', write_study(workdir, name='straight'), '--jobs', '2')
    assert reference.returncode == 0, reference.stdout + reference.stderr
    path = write_study(workdir, name='killed')
    study_dir = workdir / 'results' / 'killed'
    code, _ = _kill_mid_study(workdir, path, study_dir, signal.SIGKILL)
    assert code == -signal.SIGKILL
    # Each run got SIGTERM when the study died (no orphan trains on) and kept a snapshot.
    assert all((study_dir / r / 'snapshot').is_file() for r in ('keras_s1', 'keras_s2'))
    status = run_study(workdir, 'status', study_dir)
    assert 'study killed: 2 interrupted' in status.stdout, status.stdout

    again = run_study(workdir, 'run', path, '--jobs', '2')
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'to resume' in again.stdout and '(resume from epoch' in again.stdout
    for run in ('keras_s1', 'keras_s2'):
        want = final_weights(workdir / 'results' / 'straight' / run)
        got = final_weights(study_dir / run)
        assert sorted(want) == sorted(got)
        for key in want:  # one BLAS thread per run: bit for bit
            assert (want[key] == got[key]).all(), (run, key)


@pytest.mark.slow
def test_sigterm_stops_runs_with_snapshots_and_the_next_run_continues(workdir):
    path = write_study(workdir, name='stopped')
    study_dir = workdir / 'results' / 'stopped'
    code, output = _kill_mid_study(workdir, path, study_dir, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, output
    assert 'SIGTERM received' in output and 'stopped keras_s1' in output
    rows = read_rows(study_dir)
    assert {r['status'] for r in rows.values()} == {'interrupted'}
    again = run_study(workdir, 'run', path, '--jobs', '2')
    assert again.returncode == 0 and '2 to resume' in again.stdout, again.stdout
    assert {r['status'] for r in read_rows(study_dir).values()} == {'done'}


# -- devices ---------------------------------------------------------------------------------

def test_slots_give_each_run_its_own_gpu_or_a_share_of_the_cores(monkeypatch):
    from chainer_compare.study import launch, local
    gpus = local.Slots(jobs=2, gpus=[0, 1])
    a, b = gpus.take(1), gpus.take(1)
    assert (a, b, gpus.take(1)) == ([0], [1], None)  # never two runs on one GPU
    gpus.give(a)
    assert gpus.take(1) == [0] and gpus.threads is None
    assert launch.train_env(None, [1])['CUDA_VISIBLE_DEVICES'] == '1'
    shared = local.Slots(jobs=2, gpus=[3, 3])  # asked for: two runs on GPU 3
    assert shared.take(1) == [3] and shared.take(1) == [3]
    monkeypatch.setattr(local, 'cpu_count', lambda: 8)
    cpu = local.Slots(jobs=3, gpus=None)
    assert cpu.threads == 2 and cpu.take(2) == [0, 1] and cpu.take(2) is None
    env = launch.train_env(cpu.threads)
    assert env['OMP_NUM_THREADS'] == env['OPENBLAS_NUM_THREADS'] == '2'
    assert local.Slots(jobs=2, gpus=None).take(4) == [0, 1]  # a 4-rank run on 2 slots waits for both


@pytest.mark.mpi
@pytest.mark.requires('mpi')
def test_ranks_run_under_mpiexec(workdir):
    path = write_study(workdir, name='ranks', text='''\
name: ranks
flags: {batch_size: 8, optimizer: adam, iter: 1, augment: none, dataset: data/image.pkl}
configurations:
  two: {model: keras_mnist_cnn, ranks: 2}
''')
    proc = run_study(workdir, 'run', path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study_dir = workdir / 'results' / 'ranks'
    assert 'mpiexec -n 2' in (study_dir / 'logs' / 'two_s1.out').read_text()
    import json
    meta = json.loads((study_dir / 'two_s1' / 'metadata.json').read_text())
    assert meta['world_size'] == 2


def test_progress_line_counts_runs_epochs_and_eta(tmp_path):
    import io
    import json
    import types
    from chainer_compare.study import progress

    def run_state(name, epochs_logged_so_far):
        run_dir = tmp_path / name
        run_dir.mkdir()
        (run_dir / 'log').write_text(json.dumps([
            {'epoch': e, 'elapsed_time': 10.0 * e} for e in range(1, epochs_logged_so_far + 1)]))
        spec = types.SimpleNamespace(name=name)
        return types.SimpleNamespace(spec=spec, run_dir=str(run_dir), epoch=0, epochs=4)

    a, b, c = run_state('a_s1', 1), run_state('b_s1', 3), run_state('c_s1', 0)
    study = types.SimpleNamespace(name='p')
    out = io.StringIO()
    display = progress.Progress(study, [a, b, c], parallel=2, out=out)
    display.draw([a, b], queued=1)
    line = out.getvalue()
    assert '0/3 done, 2 running, 0 failed, 1 left' in line
    assert 'a_s1 epoch 2/4, b_s1 epoch 4/4' in line
    # 10 s an epoch; epochs left: 3 (a) + 1 (b) + 4 (c, queued) = 8, on 2 slots -> 40 s
    assert 'ETA 40s' in line
