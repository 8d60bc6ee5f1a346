"""Where each dataset comes from and how its source files are checked.

A :class:`DatasetSpec` names the files to fetch, the mirrors that serve them,
the published MD5 checksums, the image shape and the class names.  CIFAR ships
one tar.gz of Python-2 pickles; MNIST and Fashion-MNIST ship four gzipped IDX
files.  Debian's ``dataset-fashion-mnist`` re-compresses the IDX files, so for
Fashion-MNIST the checksum is taken over the *decompressed* payload, which is
the same whichever way the bytes were gzipped.
"""
import collections

SourceFile = collections.namedtuple('SourceFile', 'name role md5 payload_md5')
SourceFile.__doc__ = """One downloadable file.

``md5`` checks the file as downloaded; ``payload_md5`` checks the gunzipped
content instead (None where unknown).  ``role`` says what it holds.
"""

DatasetSpec = collections.namedtuple(
    'DatasetSpec', 'name kind files mirrors shape class_names system_dirs')
DatasetSpec.__doc__ = """A dataset: ``kind`` is 'cifar10', 'cifar100' or 'idx'.

``mirrors`` are base URLs tried in turn (a file's URL is mirror + name);
``class_names`` is None where the archive's meta file provides them;
``system_dirs`` are local directories searched before downloading.
"""

_CIFAR_MIRROR = 'https://www.cs.toronto.edu/~kriz/'

_FASHION_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                    'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')


def _idx_files(md5s, payload_md5s):
    names = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
             't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
    roles = ('train_images', 'train_labels', 'test_images', 'test_labels')
    return tuple(SourceFile(n, r, m, p)
                 for n, r, m, p in zip(names, roles, md5s, payload_md5s))


def _cifar(name, archive, md5):
    """CIFAR: one tar.gz; class names come from its meta pickle."""
    return DatasetSpec(name=name, kind=name, files=(SourceFile(archive, 'archive', md5, None),),
                       mirrors=(_CIFAR_MIRROR,), shape=(3, 32, 32), class_names=None,
                       system_dirs=())


DATASETS = collections.OrderedDict((spec.name, spec) for spec in (
    _cifar('cifar10', 'cifar-10-python.tar.gz', 'c58f30108f718f92721af3b95e74349a'),
    _cifar('cifar100', 'cifar-100-python.tar.gz', 'eb9058c3a382ffc7106e4002c42a8d85'),
    DatasetSpec(
        name='mnist', kind='idx',
        # Checksums of the .gz files as published by LeCun's site and mirrored
        # byte-for-byte by both mirrors below.
        files=_idx_files(('f68b3c2dcbeaaa9fbdd348bbdeb94873',
                          'd53e105ee54ea40749a09fcbcd1e9432',
                          '9fb629c4189551a2d022fa330f9573f3',
                          'ec29112dd5afa0611ce80d1b7f02629c'),
                         (None, None, None, None)),
        mirrors=('https://ossci-datasets.s3.amazonaws.com/mnist/',
                 'https://storage.googleapis.com/cvdf-datasets/mnist/'),
        shape=(1, 28, 28), class_names=tuple(str(d) for d in range(10)),
        system_dirs=()),
    DatasetSpec(
        name='fashion-mnist', kind='idx',
        files=_idx_files((None, None, None, None),
                         ('f4a8712d7a061bf5bd6d2ca38dc4d50a',
                          '9018921c3c673c538a1fc5bad174d6f9',
                          '8181f5470baa50b63fa0f6fddb340f0a',
                          '15d484375f8d13e6eb1aabb0c3f46965')),
        mirrors=('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',),
        shape=(1, 28, 28), class_names=_FASHION_CLASSES,
        system_dirs=('/usr/share/datasets/fashion-mnist',)),
))


# Published MD5s of the files inside the CIFAR archives, for a copy that is
# already extracted (``--archive cifar-10-batches-py/``).  The same values are
# used by torchvision's CIFAR10/CIFAR100 loaders.
EXTRACTED_MD5S = {
    'cifar10': {'data_batch_1': 'c99cafc152244af753f735de768cd75f',
                'data_batch_2': 'd4bba439e000b95fd0a9bffe97cbabec',
                'data_batch_3': '54ebc095f3ab1f0389bbae665268c751',
                'data_batch_4': '634d18415352ddfa80567beed471001a',
                'data_batch_5': '482c414d41f54cd18b22e5b47cb7c3cb',
                'test_batch': '40351d587109b95175f43aff81a1287e',
                'batches.meta': '5ff9c542aee3614f3951f8cda6e48888'},
    'cifar100': {'train': '16019d7e3df5f24257cddd939b257f8d',
                 'test': 'f0ef6b0ae62326f3e7ffdfab6717acfc',
                 'meta': '7973b15100ade9c7d40fb424638fde48'},
}


def default_output_dir(name):
    """``dataset/`` for CIFAR-10 (seed 004's layout), ``dataset/<name>/`` otherwise."""
    return 'dataset' if name == 'cifar10' else 'dataset/' + name
