"""Classify image files with a trained run: top-k class names with probabilities.

Each image (any size or mode Pillow reads) is converted to the dataset's
channels (RGB or greyscale; transparency composited on white), centre-cropped
to the dataset's aspect ratio and resized with Lanczos filtering, then
preprocessed with the statistics the data stage stored (mean, contrast
normalization, ZCA) exactly as the training images were.
"""
import json
import sys

import numpy
from PIL import Image, ImageOps

from chainer_compare.data import preprocess_images
from chainer_compare.reporting.inference import load_trained_run

# What Pillow raises for a file that is missing, unreadable, not an image or broken.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def load_image(path, shape):
    """uint8 (C, H, W) for ``shape`` = (C, H, W)."""
    channels, height, width = shape
    with Image.open(path) as image:
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ('RGBA', 'LA', 'PA') or 'transparency' in image.info:
            rgba = image.convert('RGBA')
            image = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
            image.alpha_composite(rgba)
        image = image.convert('L' if channels == 1 else 'RGB')
        image = ImageOps.fit(image, (width, height), Image.LANCZOS)
        array = numpy.asarray(image, dtype=numpy.uint8)
    # C order: preprocess_images' contrast normalization silently ignores a
    # transposed view (its in-place reshape works on a copy).
    return numpy.ascontiguousarray(array[None] if channels == 1 else array.transpose(2, 0, 1))


def predict_files(run_dir, files, top_k=3, as_json=False, dataset=None, model_file=None,
                  stream=sys.stdout):
    """Print predictions; return 1 if any file could not be read, else 0."""
    trained = load_trained_run(run_dir, dataset, model_file)
    images, readable, failures = [], [], []
    for path in files:
        try:
            images.append(load_image(path, trained.shape))
            readable.append(path)
        except _IMAGE_ERRORS as e:
            reason = getattr(e, 'strerror', None) or str(e) or type(e).__name__
            failures.append({'file': path, 'error': 'not a readable image ({})'.format(reason)})
            print('predict: {}: not a readable image ({}); skipped'.format(path, reason),
                  file=sys.stderr)
    results = []
    if images:
        x = preprocess_images(numpy.stack(images), trained.directory, trained.preprocessing)
        probs = trained.probabilities(x)
        k = max(1, min(top_k, len(trained.class_names)))
        for path, p in zip(readable, probs):
            best = numpy.argsort(-p, kind='stable')[:k]
            results.append({'file': path, 'top': [
                {'class': trained.class_names[i], 'class_id': int(i),
                 'probability': float(p[i])} for i in best]})
    if as_json:
        json.dump({'run': run_dir, 'model_file': trained.model_path,
                   'preprocessing': trained.preprocessing, 'predictions': results,
                   'errors': failures}, stream, indent=2)
        stream.write('\n')
    else:
        for result in results:
            print('{}: {}'.format(result['file'], ', '.join(
                '{} {:.3f}'.format(t['class'], t['probability']) for t in result['top'])),
                file=stream)
    return 1 if failures else 0
