"""timm-style model registry: families register by name, the trainer creates by name.

A registered class is a ``chainer.Chain`` constructed as
``cls(in_channels=..., image_size=..., n_classes=..., **its_options)`` where
``cls.options`` names the trainer options (:data:`KNOWN_OPTIONS`) it uses.
:func:`create_model` passes each model only the options it declares, so the
trainer can pass every option to every model.

Each family also records the optimizer and learning rate of its source
article's recipe (``register_model(name, default_optimizer=..., default_lr=...)``):
``train.py`` uses them when ``--optimizer``/``--lr`` are not given, so a first
run with default flags trains the way the source trained it.
"""
from chainer_compare.errors import UserError

#: Options the trainer may pass to any model (``--res_depth`` etc.).
KNOWN_OPTIONS = ('res_depth', 'res_width', 'skip_depth', 'swapout')

_REGISTRY = {}


def register_model(name, default_optimizer='sgd', default_lr=None):
    """Class decorator: make the model creatable as ``create_model(name, ...)``.

    ``default_optimizer``/``default_lr``: the source recipe's optimizer and
    learning rate (``default_lr=None``: that optimizer's own default).
    """
    def decorator(cls):
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ValueError('model name {!r} is already registered by {}'
                             .format(name, existing.__qualname__))
        unknown = set(getattr(cls, 'options', ())) - set(KNOWN_OPTIONS)
        if unknown:
            raise ValueError('{} declares unknown options {}'.format(
                cls.__qualname__, sorted(unknown)))
        cls.model_name = name
        cls.default_optimizer, cls.default_lr = default_optimizer, default_lr
        _REGISTRY[name] = cls
        return cls
    return decorator


def list_models():
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_model_class(name):
    """The class registered as ``name``; UserError listing the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError('unknown model {!r} (-m/--model); choose one of: {}'
                        .format(name, ', '.join(list_models()))) from None


def default_training(name):
    """(optimizer, learning rate or None) of model ``name``'s source recipe."""
    cls = get_model_class(name)
    return cls.default_optimizer, cls.default_lr


def _check_positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError('{} must be a positive integer, got {!r}'.format(what, value))


def create_model(name, *, in_channels, image_size, n_classes, **options):
    """A new model ``name`` for ``in_channels``×``image_size``² inputs and ``n_classes``.

    ``options`` are any of :data:`KNOWN_OPTIONS`; a model ignores those it
    does not use, and an option left as None takes the model's default.  An
    option no model knows (a typo) raises TypeError; an unknown name or an
    input shape the model cannot take raises UserError.
    """
    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        raise TypeError('create_model() got unknown option(s) {}; known: {}'
                        .format(', '.join(unknown), ', '.join(KNOWN_OPTIONS)))
    cls = get_model_class(name)
    _check_positive_int(in_channels, 'in_channels (image channels)')
    _check_positive_int(image_size, 'image_size (image side length)')
    _check_positive_int(n_classes, 'n_classes (number of classes)')
    if n_classes < 2:
        raise UserError('n_classes must be at least 2, got {}'.format(n_classes))
    used = {key: value for key, value in options.items()
            if key in getattr(cls, 'options', ()) and value is not None}
    try:
        return cls(in_channels=in_channels, image_size=image_size,
                   n_classes=n_classes, **used)
    except ValueError as e:
        raise UserError('model {!r}: {}'.format(name, e)) from None
