"""``prepare_dataset``: find or download the source, verify it, preprocess, store.

Order of work: validate the flags, check the output directory is writable,
return at once if its manifest says the outputs are current, obtain and verify
the source files (``--archive``, a copy already in the output directory, a
system copy such as Debian's Fashion-MNIST, else a download), parse them
safely, then write every output atomically with the manifest last.
"""
import datetime
import hashlib
import math
import os
import platform
import re
import sys
import time

import numpy

import chainer_compare
from chainer_compare.data import archives, pipeline, preprocess, storage
from chainer_compare.data import split as data_split
from chainer_compare.data.download import download, md5_of_file
from chainer_compare.data.sources import DATASETS, EXTRACTED_MD5S, default_output_dir
from chainer_compare.errors import UserError


def _log(quiet, message):
    if not quiet:
        print(message, file=sys.stderr)


def _check_flags(dataset, zca_eps, md5, url, retries, fit_on):
    if dataset not in DATASETS:
        raise UserError('--dataset {!r}: unknown dataset; choose one of {}'.format(
            dataset, ', '.join(DATASETS)))
    if not (isinstance(zca_eps, (int, float)) and math.isfinite(zca_eps) and zca_eps > 0):
        raise UserError('--zca-eps {}: must be a positive number (default {})'.format(
            zca_eps, preprocess.DEFAULT_ZCA_EPS))
    if md5 is not None:
        if not re.fullmatch(r'[0-9a-fA-F]{32}', md5):
            raise UserError('--md5 {!r}: not an MD5 checksum (32 hex digits)'.format(md5))
        if len(DATASETS[dataset].files) != 1:
            raise UserError('--md5: {} has several source files, each checked against its '
                            'published checksum; --md5 applies to CIFAR only'.format(dataset))
    if url is not None and not re.match(r'https?://', url):
        raise UserError('--url {!r}: must start with http:// or https://'.format(url))
    if retries < 0:
        raise UserError('--retries {}: must be 0 or more'.format(retries))
    if fit_on not in data_split.FIT_CHOICES:
        raise UserError('fit_on {!r}: choose one of {}'.format(
            fit_on, ', '.join(data_split.FIT_CHOICES)))


def _fetch(spec, source, out, mirrors, md5, retries, quiet):
    errors = []
    for mirror in mirrors:
        url = mirror + source.name
        try:
            return download(url, os.path.join(out, source.name), md5, retries, quiet)
        except UserError as e:
            errors.append(str(e))
    raise UserError('{}; download {} yourself and pass --archive FILE (or a directory '
                    'holding it)'.format('; '.join(errors), source.name))


def _locate(spec, out, archive, allow_download, url, md5, verify, retries, quiet):
    """Return ``[(SourceFile, path, record)]``; every file verified unless ``verify``
    is off (IDX payload checksums are checked later, while decoding)."""
    found = []
    for source in spec.files:
        expected = (md5 or source.md5) if verify else None
        if archive is not None:
            if os.path.isdir(archive):
                path = os.path.join(archive, source.name)
                extracted = (archives.find_extracted_cifar(archive, spec.kind)
                             if spec.kind != 'idx' and not os.path.isfile(path) else None)
                if extracted is not None:
                    found.append((source, extracted, _verify_extracted(spec, extracted, md5,
                                                                       verify)))
                    continue
            elif len(spec.files) == 1:
                path = archive
            else:
                raise UserError('--archive {}: {} needs a directory holding {}'.format(
                    archive, spec.name, ', '.join(f.name for f in spec.files)))
            if not os.path.isfile(path):
                extracted_hint = (' (or the folder it extracts to, {})'.format(
                    archives.cifar_folder_name(spec.kind)) if spec.kind != 'idx' else '')
                raise UserError('--archive {}: {} not found; give the path of the file '
                                'downloaded from {}{}'.format(archive, path, spec.mirrors[0],
                                                              extracted_hint))
            candidates = [path]
        else:
            candidates = [os.path.join(d, source.name) for d in (out,) + spec.system_dirs]
        path = next((p for p in candidates if os.path.isfile(p)), None)
        if path is None:
            if not allow_download:
                raise UserError('{}: not found and --no-download given; pass --archive with '
                                'the file from {}'.format(candidates[0], spec.mirrors[0]))
            mirrors = [url.rstrip('/') + '/'] if url else list(spec.mirrors)
            path = _fetch(spec, source, out, mirrors, expected, retries, quiet)
        actual = md5_of_file(path)
        if expected is not None:
            _check_md5(path, actual, expected, 'delete it and run again to download it, or '
                                               'pass a good copy with --archive')
        found.append((source, path, {'path': os.path.abspath(path), 'md5': actual,
                                     'md5_verified': expected is not None}))
    return found


def _check_md5(path, actual, expected, remedy):
    """Raise UserError naming ``path`` unless its MD5 ``actual`` is ``expected``."""
    if actual != expected.lower():
        raise UserError('{}: MD5 is {} but the published checksum is {}; the file is corrupt '
                        'or a different version: {}'.format(path, actual, expected, remedy))


def _verify_extracted(spec, folder, md5, verify):
    """The source record of an extracted CIFAR folder, each file checked against
    its published MD5.  Its ``md5`` is a digest of the sorted per-file MD5s, so a
    different folder content reads as a different source."""
    if md5 is not None:
        raise UserError('--md5: {} is an extracted folder, not the tar.gz; its files are '
                        'checked against their published MD5s (or pass --skip-verify)'
                        .format(folder))
    digests = {name: md5_of_file(os.path.join(folder, name))
               for name in archives.cifar_member_names(spec.kind)}
    if verify:
        for name, actual in sorted(digests.items()):
            _check_md5(os.path.join(folder, name), actual, EXTRACTED_MD5S[spec.kind][name],
                       'pass the original tar.gz with --archive, or --skip-verify')
    combined = hashlib.md5(''.join('{} {}\n'.format(n, d) for n, d in sorted(digests.items()))
                           .encode('ascii')).hexdigest()
    return {'path': os.path.abspath(folder), 'md5': combined, 'md5_verified': verify,
            'extracted_files_md5': digests}


def _load(spec, found, verify):
    if spec.kind in ('cifar10', 'cifar100'):
        return archives.load_cifar(found[0][1], spec.kind)
    files = {s.role: (path, s.payload_md5 if verify else None) for s, path, _ in found}
    data, digests = archives.load_idx(files, spec.shape, len(spec.class_names))
    for source, path, record in found:
        record['payload_md5'] = digests[path]
        record['payload_md5_verified'] = verify and source.payload_md5 is not None
    data['class_names'] = list(spec.class_names)
    return data


def prepare_dataset(dataset='cifar10', out=None, archive=None,
                    zca_eps=preprocess.DEFAULT_ZCA_EPS, force=False, download=True,
                    url=None, md5=None, verify=True, retries=3, quiet=False,
                    fit_on=data_split.FIT_TRAIN_MINUS_VALIDATION):
    """Prepare ``dataset`` into ``out`` (see docs/data.md); return the directory.

    ``fit_on``: the statistics come from the training images minus the fixed
    validation split (default), or from all of them (``'all_train'``, seed 004's
    recipe, which the trainer accepts only with --no_valid_data).
    """
    _check_flags(dataset, zca_eps, md5, url, retries, fit_on)
    spec = DATASETS[dataset]
    out = out or default_output_dir(dataset)
    expected = {'dataset': dataset, 'zca_eps': zca_eps, 'format': storage.FORMAT,
                'fit_on': fit_on}
    reason = 'forced by --force' if force else storage.stale_reason(out, expected)
    found = None
    if reason is None and archive is not None:  # a different --archive means new data
        found = _locate(spec, out, archive, False, None, md5, verify, 0, quiet)
        recorded = storage.read_manifest(out).get('sources', {})
        if any(recorded.get(s.name, {}).get('md5') != r['md5'] for s, _, r in found):
            reason = '--archive {} is not the source of the current outputs'.format(archive)
    if reason is None:
        print('{}: up to date ({} matches every file; --force recomputes)'.format(
            out, storage.MANIFEST))
        return out
    _log(quiet, '{}: preparing {} ({})'.format(out, dataset, reason))
    created = not os.path.isdir(out)
    storage.check_writable(out)
    try:
        found = found or _locate(spec, out, archive, download, url, md5, verify, retries, quiet)
        data = _load(spec, found, verify)
    except BaseException:
        if created and not os.listdir(out):  # leave nothing behind on bad input
            os.rmdir(out)
        raise
    start = time.time()
    storage.start_rewrite(out)
    n_train = len(data['train_y'])
    outputs, stats = pipeline.write_outputs(out, data, zca_eps,
                                            data_split.fit_indices(n_train, fit_on), quiet)
    manifest = dict(expected, **{
        'class_names': data['class_names'],
        'shape': list(spec.shape),
        'n_train': int(n_train), 'n_test': int(len(data['test_y'])),
        'statistics_fit': data_split.statistics_fit_record(n_train, fit_on),
        'sources': {s.name: record for s, _, record in found},
        'versions': {'python': platform.python_version(), 'numpy': numpy.__version__,
                     'chainer_compare': chainer_compare.__version__},
        'mean': float(stats['mean']), 'contrast_eps': stats['contrast_eps'],
        'zca_eps_absolute': {k: v['eps'] for k, v in stats['zca'].items()},
        'outputs': outputs,
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
    })
    if 'coarse_names' in data:
        manifest['coarse_class_names'] = data['coarse_names']
    storage.write_manifest(out, manifest)
    print('{}: wrote {} ({} train, {} test images, {:.1f} s)'.format(
        out, ', '.join(sorted(outputs)), manifest['n_train'], manifest['n_test'],
        time.time() - start))
    return out
