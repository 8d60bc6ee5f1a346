"""A PNG showing the first training images raw and after each preprocessing.

Preprocessed images are rescaled per image to 0..255 (as seed 004 does for
the whitened ones), because their values are centred on zero and their range
is narrow; the picture shows structure, not absolute values.
"""
import io

import numpy
from PIL import Image, ImageDraw

_GRID = 10  # images per row and column
_TITLE_HEIGHT = 14
_GAP = 4


def to_display(images, rescale):
    """NCHW -> NHWC uint8 RGB; ``rescale`` stretches each image to 0..255."""
    x = numpy.asarray(images, dtype=numpy.float32)
    if rescale:
        flat = x.reshape(len(x), -1)
        low = flat.min(axis=1)[:, None, None, None]
        span = numpy.maximum(flat.max(axis=1) - flat.min(axis=1), 1e-12)[:, None, None, None]
        x = (x - low) / span * 255.0
    x = numpy.clip(numpy.rint(x), 0, 255).astype(numpy.uint8).transpose(0, 2, 3, 1)
    return numpy.repeat(x, 3, axis=3) if x.shape[3] == 1 else x


def _tile(images):
    n, h, w, c = images.shape
    rows = max(1, -(-n // _GRID))
    canvas = numpy.zeros((rows * h, _GRID * w, c), numpy.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, _GRID)
        canvas[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    return canvas


def sample_grid_png(panels):
    """``panels``: list of ``(title, NCHW images, rescale)``; returns PNG bytes."""
    tiles = [(title, _tile(to_display(images[:_GRID * _GRID], rescale)))
             for title, images, rescale in panels]
    height = max(t.shape[0] for _, t in tiles) + _TITLE_HEIGHT
    width = sum(t.shape[1] for _, t in tiles) + _GAP * (len(tiles) - 1)
    sheet = Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(sheet)
    x = 0
    for title, tile in tiles:
        draw.text((x + 2, 1), title, fill='black')
        sheet.paste(Image.fromarray(tile), (x, _TITLE_HEIGHT))
        x += tile.shape[1] + _GAP
    buffer = io.BytesIO()
    sheet.save(buffer, format='PNG')
    return buffer.getvalue()
