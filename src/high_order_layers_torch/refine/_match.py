"""Which settings two networks must share for one to take the other's link functions.

Copying functions between networks (:func:`copy_functions_`) rewrites only the high-order
weights (and copies every other parameter and buffer). Everything else that shapes what a
layer computes -- the neuron, ``alpha``, the input policy, the output rescaling, the bias, the
convolution geometry, the Fourier ``length`` -- must already agree, or the target computes
another function from the same link functions while the report says ``exact``. Only ``n``,
``segments``, continuity and the basis family may differ (those are what the transfer matrix
maps between).
"""

from __future__ import annotations

from torch import nn

from ..bases import Basis
from ..layers import HighOrderConvNd, HighOrderConvTransposeNd, HighOrderLinear
from ..layers._protocol import basis_of, is_high_order

_ABSENT = object()

#: The layer classes whose settings are known; a high-order module of any other class must
#: match its counterpart's class exactly.
LAYER_KINDS: tuple[type[nn.Module], ...] = (HighOrderLinear, HighOrderConvNd, HighOrderConvTransposeNd)

#: Layer attributes, besides the weights and the basis, that change the function a layer
#: computes; read where a layer has them.
LAYER_SETTINGS: tuple[str, ...] = (
    "neuron",
    "alpha",
    "rescale_output",
    "out_of_range",
    "periodicity",
    "num_spatial_dims",
    "kernel_size",
    "stride",
    "padding",
    "output_padding",
    "dilation",
    "groups",
    "padding_mode",
)

#: Modules that are the identity in evaluation, so their settings (``p``) may differ.
TRAINING_ONLY: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)

#: Modules that only hold and call their children.
CONTAINERS: tuple[type[nn.Module], ...] = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def layer_kind(module: nn.Module) -> type[nn.Module]:
    """The known layer class ``module`` derives from, or its own class."""
    return next((kind for kind in LAYER_KINDS if isinstance(module, kind)), type(module))


def layer_settings(module: nn.Module) -> dict[str, object]:
    """``{setting: value}`` for everything but the link functions that shapes ``module``'s function.

    ``alpha`` is left out for sum neurons and ``rescale_output`` for product neurons: neither
    acts there. ``bias`` is whether the layer has one. The basis is not among them (see
    :func:`check_layers_match`).
    """
    settings: dict[str, object] = {"kind": layer_kind(module).__name__}
    for name in LAYER_SETTINGS:
        value = getattr(module, name, _ABSENT)
        if value is not _ABSENT:
            settings[name] = value
    if settings.get("neuron", "sum") == "sum":
        settings.pop("alpha", None)
    else:
        settings.pop("rescale_output", None)
    if hasattr(module, "bias"):
        settings["bias"] = module.bias is not None
    return settings


def _comparable(module: nn.Module, name: str, value: object) -> object:
    # padding="same" and the explicit padding it stands for compute the same function
    input_padding = getattr(module, "input_padding", None)
    if name == "padding" and callable(input_padding):
        return input_padding()
    return value


def check_layers_match(source: nn.Module, name_in: str, target: nn.Module, name_out: str) -> None:
    """Raise unless the high-order layers ``source`` (in ``network_in``) and ``target`` (in
    ``network_out``) compute the same function from the same link functions.

    Raises:
        ValueError: naming both layers, the first setting that differs and both values.
    """
    settings_in, settings_out = layer_settings(source), layer_settings(target)
    # The family may change (a projection), but two Fourier series of other periods are not a
    # refinement of one another: the copy would be a projection the user did not ask for.
    basis_in, basis_out = basis_of(source), basis_of(target)
    if basis_in.function_config()["basis"] == basis_out.function_config()["basis"]:
        for key in basis_in.fixed_settings:
            settings_in[key], settings_out[key] = basis_in.settings()[key], basis_out.settings()[key]
    names = list(settings_in) + [name for name in settings_out if name not in settings_in]
    for name in names:
        value_in, value_out = settings_in.get(name, _ABSENT), settings_out.get(name, _ABSENT)
        if _comparable(source, name, value_in) == _comparable(target, name, value_out):
            continue
        shown_in = "absent" if value_in is _ABSENT else repr(value_in)
        shown_out = "absent" if value_out is _ABSENT else repr(value_out)
        raise ValueError(
            f"layer {name_in!r} of network_in and layer {name_out!r} of network_out compute different "
            f"functions: {name} is {shown_in} in network_in but {shown_out} in network_out; only n, segments, "
            "continuity and the basis family may differ"
        )


def _has_own_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def function_modules(network: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, nn.Module]]]:
    """``network``'s modules in registration order, split into high-order layers and every other
    module that computes something or holds state (bases and stateless containers left out).

    Returns:
        ``(high_order, other)``, each a list of ``(name, module)``.
    """
    high, other = [], []
    for name, module in network.named_modules():
        if is_high_order(module):
            high.append((name, module))
        elif isinstance(module, Basis) or (isinstance(module, CONTAINERS) and not _has_own_state(module)):
            continue
        else:
            other.append((name, module))
    return high, other


def check_modules_match(other_in: list[tuple[str, nn.Module]], other_out: list[tuple[str, nn.Module]]) -> None:
    """Raise unless the modules that are not high-order layers (as :func:`function_modules` lists
    them) pair up, in order, into modules that compute the same function: the same class and,
    unless they act only in training, the same hyper-parameters (their ``extra_repr``).

    Raises:
        ValueError: naming the first module without a counterpart, or both modules and what differs.
    """
    for (name_in, source), (name_out, target) in zip(other_in, other_out, strict=False):
        if type(source) is not type(target):
            raise ValueError(
                f"module {name_in!r} of network_in is a {type(source).__name__} but module {name_out!r} of "
                f"network_out is a {type(target).__name__}; the networks must have the same architecture"
            )
        if not isinstance(source, TRAINING_ONLY) and source.extra_repr() != target.extra_repr():
            raise ValueError(
                f"{type(source).__name__} {name_in!r} of network_in and {name_out!r} of network_out differ: "
                f"({source.extra_repr()}) in network_in but ({target.extra_repr()}) in network_out"
            )
    if len(other_in) != len(other_out):
        (name, module), where, other = (
            (other_in[len(other_out)], "network_in", "network_out")
            if len(other_in) > len(other_out)
            else (other_out[len(other_in)], "network_out", "network_in")
        )
        raise ValueError(
            f"module {name!r} ({type(module).__name__}) of {where} has no counterpart in {other}; "
            "the networks must have the same architecture"
        )
