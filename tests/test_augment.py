"""Batched augmentation: each transform against the parameters it returns."""
import numpy
import pytest

from chainer_compare.errors import UserError
from chainer_compare.training import augment

RANDOM = [name for name in augment.AUGMENTATIONS if name != 'none']
SHAPES = [(6, 1, 28, 28), (6, 3, 32, 32)]


def batch(shape, seed=0):
    return numpy.random.RandomState(seed).randn(*shape).astype(numpy.float32)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('name', sorted(augment.AUGMENTATIONS))
def test_shape_dtype_no_mutation_and_params_reproduce(name, shape):
    x = batch(shape)
    before = x.copy()
    y, params = augment.AUGMENTATIONS[name](
        x, numpy.random.RandomState(1), return_params=True)
    assert y.shape == x.shape and y.dtype == numpy.float32
    assert y is not x
    numpy.testing.assert_array_equal(x, before)
    numpy.testing.assert_array_equal(augment.APPLY[name](x, params), y)


@pytest.mark.parametrize('name', RANDOM)
def test_same_seed_same_output_and_rng_advances(name):
    x = batch((16, 3, 32, 32))
    f = augment.AUGMENTATIONS[name]
    numpy.testing.assert_array_equal(f(x, numpy.random.RandomState(5)),
                                     f(x, numpy.random.RandomState(5)))
    rng = numpy.random.RandomState(5)
    assert not numpy.array_equal(f(x, rng), f(x, rng))


@pytest.mark.parametrize('name', RANDOM)
def test_large_batch_vectorized(name):
    x = batch((512, 3, 32, 32))
    y = augment.AUGMENTATIONS[name](x, numpy.random.RandomState(0))
    assert y.shape == x.shape
    # Per-image parameters differ: not every image got the same change.
    changed = (y != x).reshape(512, -1).any(axis=1)
    assert 0 < changed.sum()


def test_crop_is_zero_filled_shift():
    x = batch((3, 2, 8, 8)) + 10  # no zeros in the input
    params = {'dy': numpy.array([0, 2, -3]), 'dx': numpy.array([0, -1, 4])}
    y = augment.apply_crop(x, params)
    numpy.testing.assert_array_equal(y[0], x[0])
    expect = numpy.zeros_like(x[1])
    expect[:, :6, 1:] = x[1, :, 2:, :7]  # content moved up 2, right 1
    numpy.testing.assert_array_equal(y[1], expect)
    expect = numpy.zeros_like(x[2])
    expect[:, 3:, :4] = x[2, :, :5, 4:]  # moved down 3, left 4
    numpy.testing.assert_array_equal(y[2], expect)
    # Same as "pad by 4, crop at (4 + dy, 4 + dx)".
    padded = numpy.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    for i in range(3):
        t, l = 4 + params['dy'][i], 4 + params['dx'][i]
        numpy.testing.assert_array_equal(y[i], padded[i, :, t:t + 8, l:l + 8])


def test_random_crop_offsets_within_pad():
    _, params = augment.random_crop(batch((400, 1, 28, 28)),
                                    numpy.random.RandomState(0), pad=4,
                                    return_params=True)
    for key in ('dy', 'dx'):
        assert set(params[key].tolist()) == set(range(-4, 5))


def test_flip_mirrors_flagged_images_only():
    x = batch((200, 3, 32, 32))
    y, params = augment.random_flip(x, numpy.random.RandomState(0),
                                    return_params=True)
    flip = params['flip']
    assert 60 < flip.sum() < 140
    numpy.testing.assert_array_equal(y[flip], x[flip][..., ::-1])
    numpy.testing.assert_array_equal(y[~flip], x[~flip])


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('name', ['erasing', 'cutout'])
def test_boxes_inside_image_and_only_box_changes(name, shape):
    n, _, h, w = (100,) + shape[1:]
    x = batch((n,) + shape[1:]) + 10
    y, p = augment.AUGMENTATIONS[name](x, numpy.random.RandomState(2),
                                       return_params=True)
    top, left, height, width = p['top'], p['left'], p['height'], p['width']
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + height <= h).all() and (left + width <= w).all()
    assert (height > 0).any()
    for i in range(n):
        mask = numpy.zeros((h, w), bool)
        mask[top[i]:top[i] + height[i], left[i]:left[i] + width[i]] = True
        assert (y[i][:, mask] == 0).all()
        numpy.testing.assert_array_equal(y[i][:, ~mask], x[i][:, ~mask])


def test_erasing_probability_area_and_aspect():
    n, h, w = 2000, 32, 32
    _, p = augment.random_erasing(numpy.zeros((n, 1, h, w), numpy.float32),
                                  numpy.random.RandomState(0), p=0.5,
                                  return_params=True)
    erased = p['height'] > 0
    assert 0.4 < erased.mean() < 0.6
    numpy.testing.assert_array_equal(erased, p['applied'])
    area = (p['height'] * p['width'])[erased] / float(h * w)
    assert area.min() > 0.01 and area.max() < 0.45
    ratio = (p['height'] / numpy.maximum(p['width'], 1))[erased]
    assert ratio.min() > 0.2 and ratio.max() < 4.5


def test_erasing_random_fill_is_reproducible():
    x = batch((20, 3, 32, 32))
    y, p = augment.random_erasing(x, numpy.random.RandomState(0), p=1.0,
                                  fill='random', return_params=True)
    assert p['noise'].shape == x.shape
    numpy.testing.assert_array_equal(augment.apply_boxes(x, p), y)
    assert (y[0] != 0).all()  # filled with noise, not zeros


def test_cutout_size_scales_with_image():
    for h, size in ((32, 8), (28, 7)):
        x = numpy.ones((300, 1, h, h), numpy.float32)
        _, p = augment.cutout(x, numpy.random.RandomState(0),
                              return_params=True)
        assert p['height'].max() == size and p['width'].max() == size
        assert p['height'].min() < size  # clipped at the border sometimes


@pytest.mark.parametrize('interpolation', ['nearest', 'bilinear'])
def test_rotation_zero_is_identity(interpolation):
    x = batch((4, 3, 32, 32))
    y = augment.apply_rotation(x, {'angle': numpy.zeros(4)}, interpolation)
    numpy.testing.assert_allclose(y, x, atol=1e-6)


@pytest.mark.parametrize('shape', [(3, 1, 28, 28), (3, 3, 32, 32)])
def test_rotation_90_matches_rot90(shape):
    x = batch(shape)
    y = augment.apply_rotation(x, {'angle': numpy.array([90.0, -90.0, 180.0])},
                               'nearest')
    for i, k in enumerate((1, -1, 2)):
        numpy.testing.assert_array_equal(
            y[i], numpy.rot90(x[i], k, axes=(-2, -1)))
    bilinear = augment.apply_rotation(x, {'angle': numpy.array([90.0] * 3)})
    numpy.testing.assert_allclose(bilinear, numpy.rot90(x, 1, axes=(-2, -1)),
                                  atol=1e-4)


def test_rotation_fills_corners_with_zero_and_respects_max():
    x = batch((50, 1, 28, 28)) + 10
    y, p = augment.random_rotation(x, numpy.random.RandomState(0),
                                   max_degrees=15, return_params=True)
    assert numpy.abs(p['angle']).max() <= 15
    big = numpy.abs(p['angle']) > 5
    assert (y[big, :, 0, 0] == 0).all()  # a corner rotates out of the frame
    assert (y[:, :, 14, 14] != 0).all()  # the centre stays


def test_parse_augment():
    assert augment.parse_augment('crop,flip') == ['crop', 'flip']
    assert augment.parse_augment(' Crop , rotate ') == ['crop', 'rotate']
    assert augment.parse_augment('none') == []
    assert augment.parse_augment(None) == []
    assert augment.parse_augment('') == []


@pytest.mark.parametrize('spec', ['crop,blur', 'flip,flip', 'none,crop'])
def test_parse_augment_errors(spec):
    with pytest.raises(UserError) as e:
        augment.parse_augment(spec)
    assert '--augment' in str(e.value)


def test_unknown_name_lists_valid_names():
    with pytest.raises(UserError) as e:
        augment.build_augmentation(['crop', 'zoom'])
    for name in augment.AUGMENTATIONS:
        assert name in str(e.value)


def test_build_augmentation_applies_in_order():
    x = batch((8, 3, 32, 32))
    aug = augment.build_augmentation('crop,flip')
    assert aug.names == ('crop', 'flip')
    rng = numpy.random.RandomState(3)
    y1, p1 = augment.random_crop(x, rng, return_params=True)
    y2, p2 = augment.random_flip(y1, rng, return_params=True)
    numpy.testing.assert_array_equal(aug(x, numpy.random.RandomState(3)), y2)
    assert augment.build_augmentation('none').names == ()
    assert augment.build_augmentation([])(x, numpy.random.RandomState(0)) is x


def reference_rotation(img, degrees):
    """Per-pixel bilinear rotation, written the slow obvious way."""
    c, h, w = img.shape
    t = numpy.deg2rad(degrees)
    out = numpy.zeros_like(img)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    for r in range(h):
        for col in range(w):
            sx = numpy.cos(t) * (col - cx) - numpy.sin(t) * (r - cy) + cx
            sy = numpy.sin(t) * (col - cx) + numpy.cos(t) * (r - cy) + cy
            y0, x0 = int(numpy.floor(sy)), int(numpy.floor(sx))
            for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                if 0 <= yy < h and 0 <= xx < w:
                    weight = (1 - abs(sy - yy)) * (1 - abs(sx - xx))
                    out[:, r, col] += weight * img[:, yy, xx]
    return out


def test_bilinear_rotation_matches_reference_on_non_square_image():
    x = batch((2, 2, 7, 9))
    angles = numpy.array([12.5, -33.0])
    y = augment.apply_rotation(x, {'angle': angles})
    for i in range(2):
        numpy.testing.assert_allclose(y[i], reference_rotation(x[i], angles[i]),
                                      atol=1e-5)


def cupy_or_skip():
    cupy = pytest.importorskip('cupy')
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError('no device')
    except Exception as e:  # CUDA missing or no GPU
        pytest.skip('no usable GPU: {}'.format(e))
    return cupy


@pytest.mark.parametrize('name', sorted(augment.AUGMENTATIONS))
def test_cupy_matches_numpy(name):
    """On a GPU: same host-drawn parameters, same images (skipped without)."""
    cupy = cupy_or_skip()
    x = batch((64, 3, 32, 32))
    f = augment.AUGMENTATIONS[name]
    y, params = f(x, numpy.random.RandomState(4), return_params=True)
    y_gpu, params_gpu = f(cupy.asarray(x), numpy.random.RandomState(4),
                          return_params=True)
    assert isinstance(y_gpu, cupy.ndarray) and y_gpu.dtype == numpy.float32
    for key in params:
        numpy.testing.assert_array_equal(numpy.asarray(params_gpu[key]),
                                         numpy.asarray(params[key]))
    numpy.testing.assert_allclose(cupy.asnumpy(y_gpu), y, atol=1e-5)
