"""Character-level text model: the next character from the ``context`` before it, with a high-order MLP.

    python examples/text_generation.py                           # pydoc's help topics, one epoch
    python examples/text_generation.py text=python_license max_epochs=10
    python examples/text_generation.py text=/path/to/book.txt context=32
    python examples/text_generation.py baseline=relu             # a ReLU MLP with about as many parameters
    python examples/text_generation.py position_embedding=fourier   # add each character's position in the window

Texts that ship with Python (``text=``): ``pydoc_topics`` (the default) is the help text of
``pydoc`` (``pydoc_data.topics``: 79 sections of the Python language reference, under the PSF
licence; 465,126 characters, 103 distinct, for Python 3.11), joined in name order;
``python_license`` is the ``LICENSE.txt`` beside the standard library (found through
``sysconfig``; 13,936 characters, 76 distinct, for Python 3.11: small enough to memorise, so the
held-out score is poor); ``zen`` is ``import this`` (856 characters, for quick checks). Anything
else is a path to a UTF-8 text file. The last ``test_fraction`` of the text is held out.

Each of the ``context`` previous characters is embedded with a fixed code in ``[-1, 1]``, the range
of the links (``embedding=random``: ``embedding_dim`` uniform random numbers per character, drawn
once from ``seed``; ``embedding=onehot``: +1 at the character, -1 elsewhere). The concatenated codes
go through a ``HighOrderMLP`` to logits over the vocabulary (every character of the text). The
summary reports bits per character on the held-out part (``test_bpc`` = test cross-entropy / ln 2),
next to ``unigram_bpc`` (character frequencies of the training part alone) for scale, and a
continuation of ``sample_length`` characters sampled at ``temperature`` from the start of the
held-out part (also in ``sample.txt``).

``position_embedding`` (``none`` by default) appends to each character's code a fixed embedding of
its position in the window (position ``j`` of ``context`` mapped to ``-1 + 2 j / (context - 1)``;
kinds and sizes as in ``implicit_image.py``, the ``sinusoidal`` one at one unit per character).
The MLP sees the window in a fixed layout, so it can tell the positions apart without this; the
embedding only adds position-dependent inputs that the links can mix with the codes.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import math
import sysconfig
from pathlib import Path
from typing import Any

import hydra
import torch
from common.app import finish, output_dir, run_or_exit, setup, to_dict
from common.baselines import matched_relu_mlp
from common.data import DataNotFoundError
from common.datamodule import ArrayDataModule
from common.embedding import position_embedding
from common.task import Task
from common.training import Timer, fit_and_test, make_trainer, parameter_count
from torch import Tensor, nn

from high_order_layers_torch.layers import MaxAbsNormalization, PositionalEmbedding
from high_order_layers_torch.networks import HighOrderMLP


def python_license() -> str:
    """The CPython licence (``LICENSE.txt`` beside the standard library)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    candidates = [stdlib / "LICENSE.txt", stdlib.parent.parent / "LICENSE.txt"]  # POSIX, Windows layouts
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise DataNotFoundError(
        f"this Python has no LICENSE.txt (looked in {', '.join(map(str, candidates))}); pass text=/path/to/file.txt"
    )


def pydoc_topics() -> str:
    """The help topics of ``pydoc`` (``pydoc_data.topics``: sections of the Python language reference),
    joined in the order of their names by blank lines."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions package pydoc_data separately
        raise DataNotFoundError("this Python has no pydoc_data.topics; pass text=/path/to/file.txt") from None
    return "\n\n".join(topics[name] for name in sorted(topics))


def zen() -> str:
    """The Zen of Python (``import this``, whose import prints it; the printing is swallowed)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


TEXTS = {"pydoc_topics": pydoc_topics, "python_license": python_license, "zen": zen}


def load_text(name: str) -> str:
    """A named text (:data:`TEXTS`) or the UTF-8 file at path ``name``."""
    if name in TEXTS:
        return TEXTS[name]()
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataNotFoundError(
            f"text {name!r} is neither one of {', '.join(TEXTS)} nor a file (no file {path.resolve()}); "
            "pass text=/path/to/file.txt (UTF-8) or one of those names"
        )
    return path.read_text(encoding="utf-8")


def windows(ids: Tensor, context: int) -> tuple[Tensor, Tensor]:
    """Every ``context``-long run of ``ids`` and the id after it.

    Shape: ``(N, context)`` and ``(N,)`` with ``N = len(ids) - context``.
    """
    if len(ids) <= context:
        raise ValueError(f"a text of {len(ids)} characters has no window of {context} plus a next character")
    return ids.unfold(0, context, 1)[:-1], ids[context:]


def random_codes(vocabulary: int, dim: int, generator: torch.Generator) -> Tensor:
    """``dim`` numbers uniform in ``[-1, 1]`` per character. Shape: ``(vocabulary, dim)``."""
    return torch.rand(vocabulary, dim, generator=generator) * 2 - 1


def onehot_codes(vocabulary: int, dim: int, generator: torch.Generator) -> Tensor:
    """+1 at the character, -1 elsewhere (``dim`` is ignored). Shape: ``(vocabulary, vocabulary)``."""
    return torch.eye(vocabulary) * 2 - 1


EMBEDDINGS = {"random": random_codes, "onehot": onehot_codes}


def window_positions(context: int) -> Tensor:
    """Position ``j`` of a ``context``-long window as ``-1 + 2 j / (context - 1)`` (0 for one character).

    Shape: ``(context, 1)``.
    """
    if context == 1:
        return torch.zeros(1, 1)
    return torch.linspace(-1, 1, context).unsqueeze(-1)


class CharModel(nn.Module):
    """Fixed character codes, each followed by its position's embedding, concatenated over the context,
    then ``body`` to next-character logits.

    Args:
        codes: ``(vocabulary, dim)`` code of each character (a buffer: saved, not trained).
        body: maps ``(B, context * (dim + P))`` to ``(B, vocabulary)``.
        embedding: positional embedding of the window positions (``P = embedding.features``), or
            ``None`` (``P = 0``).
        context: window length (needed with an embedding).

    Shape:
        Input: ``(B, context)`` character ids. Output: ``(B, vocabulary)`` logits.
    """

    def __init__(
        self, codes: Tensor, body: nn.Module, embedding: PositionalEmbedding | None = None, context: int = 1
    ) -> None:
        super().__init__()
        self.register_buffer("codes", codes)
        self.body = body
        self.embedding = embedding
        self.register_buffer("positions", window_positions(context), persistent=False)

    def forward(self, ids: Tensor) -> Tensor:
        x = self.codes[ids]  # (B, context, dim)
        if self.embedding is not None:
            position = self.embedding(self.positions.to(x.dtype))  # (context, P)
            x = torch.cat([x, position.expand(x.shape[0], -1, -1)], dim=-1)  # (B, context, dim + P)
        return self.body(x.flatten(1))  # (B, context, dim + P) -> (B, context * (dim + P))


def build_model(cfg: dict[str, Any], vocabulary: int) -> CharModel:
    if cfg["embedding"] not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {cfg['embedding']!r}; valid names: {', '.join(EMBEDDINGS)}")
    codes = EMBEDDINGS[cfg["embedding"]](vocabulary, cfg["embedding_dim"], torch.Generator().manual_seed(cfg["seed"]))
    embedding = position_embedding(cfg, cfg["context"])
    in_width = cfg["context"] * (codes.shape[1] + (0 if embedding is None else embedding.features))
    body: nn.Module = HighOrderMLP(
        cfg["layer_type"],
        n=cfg["n"],
        in_width=in_width,
        out_width=vocabulary,
        hidden_layers=cfg["hidden_layers"],
        hidden_width=cfg["hidden_width"],
        segments=cfg["segments"],
        normalization=MaxAbsNormalization if cfg["normalize"] else None,
        initialization=cfg.get("initialization"),
    )
    if cfg.get("baseline") == "relu":
        body = matched_relu_mlp(in_width, vocabulary, cfg["hidden_layers"], parameter_count(body))
    elif cfg.get("baseline") is not None:
        raise ValueError(f"baseline must be null or 'relu', got {cfg['baseline']!r}")
    return CharModel(codes, body, embedding, cfg["context"])


@torch.no_grad()
def sample(
    model: nn.Module, prompt: Tensor, length: int, *, temperature: float = 1.0, generator: torch.Generator
) -> Tensor:
    """``length`` ids drawn one at a time after ``prompt``, each fed back in as context.

    Shape: ``prompt`` ``(context,)``; output ``(length,)``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    window, out = prompt.clone(), []
    for _ in range(length):
        probabilities = torch.softmax(model(window[None])[0] / temperature, dim=-1)
        next_id = torch.multinomial(probabilities, 1, generator=generator)
        out.append(next_id)
        window = torch.cat([window[1:], next_id])
    return torch.cat(out) if out else prompt.new_empty(0)


def unigram_bpc(train_ids: Tensor, test_ids: Tensor, vocabulary: int) -> float:
    """Bits per character of ``test_ids`` under the training part's character frequencies (add-one smoothed)."""
    counts = torch.bincount(train_ids, minlength=vocabulary).double() + 1
    return -(counts / counts.sum()).log2()[test_ids].mean().item()


def run(cfg: Any) -> dict[str, Any]:
    """Train, test, sample, and return (and write to ``summary.json``) bits per character and the sample."""
    cfg = to_dict(cfg)
    setup(cfg)
    out = output_dir(cfg, "text_generation")
    text = load_text(cfg["text"])
    alphabet = sorted(set(text))
    index = {char: i for i, char in enumerate(alphabet)}
    ids = torch.tensor([index[char] for char in text], dtype=torch.long)
    if not 0 < cfg["test_fraction"] < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {cfg['test_fraction']}")
    split = round(len(ids) * (1 - cfg["test_fraction"]))
    x_train, y_train = windows(ids[:split], cfg["context"])
    x_test, y_test = windows(ids[split:], cfg["context"])
    data = ArrayDataModule(
        x_train,
        y_train,
        x_test,
        y_test,
        train_fraction=cfg["train_fraction"],
        val_size=cfg.get("val_size", 0),
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
    )
    model = build_model(cfg, len(alphabet))
    task = Task(
        model, optimizer=cfg["optimizer"], lr=cfg["lr"], weight_decay=cfg["weight_decay"], scheduler=cfg["scheduler"]
    )
    timer = Timer()
    trainer = make_trainer(cfg, out, callbacks=[timer])
    metrics = fit_and_test(trainer, task, data, ckpt_path=cfg.get("resume"))
    model.eval()
    continuation = sample(
        model,
        x_test[0],
        cfg["sample_length"],
        temperature=cfg["temperature"],
        generator=torch.Generator().manual_seed(cfg["seed"]),
    )
    prompt_text = "".join(alphabet[i] for i in x_test[0].tolist())
    sample_text = "".join(alphabet[i] for i in continuation.tolist())
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sample.txt").write_text(prompt_text + sample_text, encoding="utf-8")
        print(f"prompt: {prompt_text!r}\nsample: {sample_text!r}")
    return finish(
        trainer,
        out,
        {
            "model": "relu" if cfg.get("baseline") == "relu" else cfg["layer_type"],
            "position_embedding": cfg.get("position_embedding", "none"),
            "params": parameter_count(model),
            "epochs": trainer.current_epoch,
            "wall_s": round(timer.seconds, 2),
            "text_chars": len(text),
            "vocabulary": len(alphabet),
            "train_windows": len(x_train),
            "test_windows": len(x_test),
            "test_bpc": metrics["test_loss"] / math.log(2),
            "unigram_bpc": unigram_bpc(ids[:split], y_test, len(alphabet)),
            "prompt": prompt_text,
            "sample": sample_text,
            **metrics,
        },
    )


@hydra.main(config_path="config", config_name="text_generation", version_base=None)
def main(cfg) -> float | None:
    return run_or_exit(run, cfg)


if __name__ == "__main__":
    main()
