"""Under CI=true a missing required component fails the run, naming it; locally
it skips, saying why (issue 12, point 3).  Runs pytest in a subprocess on a
tiny test file with tests/components.py as its only plugin."""
import os
import subprocess
import sys

import pytest

import components

HERE = os.path.dirname(os.path.abspath(__file__))

TINY_TEST = '''
import pytest

@pytest.mark.requires('mpi')
def test_needs_mpi():
    pass

def test_needs_nothing():
    pass
'''


def _pytest(tmp_path, ci):
    (tmp_path / 'test_tiny.py').write_text(TINY_TEST)
    env = {k: v for k, v in os.environ.items() if k != 'CI'}
    env.update({components.HIDE_ENV: 'mpi', 'PYTHONPATH': HERE})
    if ci:
        env['CI'] = 'true'
    return subprocess.run([sys.executable, '-m', 'pytest', '-q', '-ra', '-p', 'components',
                           '-p', 'no:cacheprovider', '-c', os.devnull,
                           '--rootdir', str(tmp_path), str(tmp_path / 'test_tiny.py')],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=120)


def test_ci_fails_with_one_line_naming_the_missing_component(tmp_path):
    result = _pytest(tmp_path, ci=True)
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stdout.splitlines()
             if line.startswith("CI=true: required component 'mpi' is missing")]
    assert lines, result.stdout
    assert components.HIDE_ENV in lines[0]
    assert '1 passed, 1 error' in result.stdout  # failed in setup: an error


def test_without_ci_a_missing_component_skips_saying_why(tmp_path):
    result = _pytest(tmp_path, ci=False)
    assert result.returncode == 0, result.stdout
    assert '1 passed, 1 skipped' in result.stdout
    assert "SKIPPED [1]" in result.stdout and "component 'mpi' missing" in result.stdout


def test_every_component_has_a_check_and_unknown_names_are_refused(monkeypatch):
    assert set(components.COMPONENTS) == {'mpi', 'chromium', 'fashion-mnist', 'torch', 'slurm',
                                          'kernels'}
    monkeypatch.setenv(components.HIDE_ENV, 'slurm,torch')
    assert 'hidden' in components.missing_reason('slurm')
    assert 'hidden' in components.missing_reason('torch')
    with pytest.raises(ValueError, match='unknown component'):
        components.missing_reason('cuda')


def test_slurm_needs_both_sbatch_and_slurmctld(monkeypatch, tmp_path):
    monkeypatch.delenv(components.HIDE_ENV, raising=False)
    fake = tmp_path / 'sbatch'
    fake.write_text('#!/bin/sh\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', str(tmp_path))
    assert 'slurmctld' in components.missing_reason('slurm')


def test_ci_entry_point_sets_ci_and_make_installs_every_component():
    root = os.path.dirname(HERE)
    with open(os.path.join(root, '.ci', 'run')) as f:
        assert 'export CI=true' in f.read()
    with open(os.path.join(root, 'Makefile')) as f:
        makefile = f.read()
    apt = next(line for line in makefile.splitlines() if line.startswith('APT_PACKAGES'))
    for package in ('openmpi-bin', 'libopenmpi-dev', 'dataset-fashion-mnist', 'chromium',
                    'slurm-wlm', 'munge'):
        assert package in apt.split()
    assert 'TORCH_PIN := torch=={}'.format(components.TORCH_VERSION) in makefile
