"""Module boundaries: training knows no ChainerMN, reporting no trainer, src/ no test hooks."""
import ast
import os

import pytest

from test_train_support import ROOT

PACKAGE = os.path.join(ROOT, 'src', 'chainer_compare')


def imported_modules(path):
    """Every module ``path`` imports (absolute names; ``from a import b`` gives a and a.b)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update('{}.{}'.format(node.module, alias.name) for alias in node.names)
    return names


def package_files(sub):
    folder = os.path.join(PACKAGE, sub)
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith('.py')]


@pytest.mark.parametrize('importer, forbidden', [
    ('training', 'chainer_compare.parallel'),  # parallel plugs into training, not back
    ('training', 'chainermn'),
    ('reporting', 'chainer_compare.training'),  # device selection is chainer_compare.device
])
def test_no_import_across_the_boundary(importer, forbidden):
    offenders = [os.path.relpath(path, ROOT) for path in package_files(importer)
                 if any(name == forbidden or name.startswith(forbidden + '.')
                        for name in imported_modules(path))]
    assert offenders == []


def test_no_fault_injection_in_production_code():
    for folder, _, files in os.walk(os.path.join(ROOT, 'src')):
        for name in files:
            if name.endswith('.py'):
                with open(os.path.join(folder, name)) as f:
                    assert 'CHAINER_COMPARE_TEST' not in f.read(), os.path.join(folder, name)


def test_device_selection_is_shared_and_the_old_path_still_works():
    from chainer_compare import device
    from chainer_compare.training import device as old
    assert old.get_device is device.get_device and old.describe is device.describe


def test_single_process_distribution_changes_nothing():
    from chainer_compare.training.distribution import SingleProcess
    dist = SingleProcess()
    data = [1, 2, 3]
    assert dist.scatter(data, shuffle=True) is data and dist.broadcast(5) == 5
    assert dist.rank_seed(7) == 7 and dist.is_root and dist.size == 1
    assert dist.describe() == {'world_size': 1, 'communicator': None}
    assert dist.epoch_extensions(object()) == [] and dist.observation_extensions() == []
