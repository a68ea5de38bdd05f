"""The one typed schema for a trial: every knob a search space, `--set` or a checkpoint may name."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from trainables.registry import AUGMENTATIONS, DATA_FORMATS, HEADS, LOSSES, OPTIMIZERS, SCHEDULES, Registry

# Not registries: Lightning owns the precisions, and padding is a switch of trainables/batching.py.
PRECISIONS = ("32", "16-mixed", "bf16-mixed")
PADDINGS = ("dynamic", "max_length")
TTA_MODES = ("none", "swap")  # test-time averaging, trainables/tta.py
ALL_FOLDS = -1  # fold=-1: train every fold and form one candidate (trainables/kfold.py)


class ConfigError(ValueError):
    """A config value or key the user must fix; the message names it and the allowed values."""


def _h(text: str, **kw: Any) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass
class TrialConfig:
    # --- data -------------------------------------------------------------------------------------
    train_path: str = _h("train file; empty = bundled KLUE-STS train", default="")
    dev_path: str = _h("dev file; empty = bundled KLUE-STS dev", default="")
    test_path: str = _h("optional test file (predictions are saved for it)", default="")
    data_format: str = _h("auto (detect) or a registered format (trainables/data.py)", default="auto")
    allow_overlap: bool = _h("accept dev/test pairs that also appear in train (else an error when all do, "
                             "a warning when over 1% do)", default=False)
    num_folds: int = _h("K for K-fold over train+dev; 0 = use the dev file as is", default=0)
    fold: int = _h("which fold (0..num_folds-1) is the validation fold; -1 = all of them in turn, as one "
                   "candidate: out-of-fold dev predictions over train+dev, the fold models' mean on test "
                   "(trainables/kfold.py)", default=0)
    fold_seed: int = _h("seed of the fold assignment (kept apart from `seed` so folds never move)", default=0)
    preprocess: list[str] = _h("ordered preprocessing steps (trainables/textsteps.py)", default_factory=list)
    speller_cache: str = _h("CSV sentence,corrected for the speller_cache step", default="")
    augmentation: str = _h("train-only augmentation (trainables/augment.py)", default="none")
    augmentation_rate: float = _h("word-level rate for eda", default=0.1)
    synonyms_path: str = _h("synonym file for eda synonym replacement", default="")
    paraphrases_path: str = _h("paraphrase CSV keyed by id for back_translation", default="")
    cache_dir: str = _h("token/preprocessing cache; empty = $STS_TUNE_CACHE or ~/.cache/sts-tune", default="")
    # --- model ------------------------------------------------------------------------------------
    backbone: str = _h("HF hub name or local directory", default="assets/tiny-bert")
    tokenizer: str = _h("tokenizer hub name or directory; empty = the backbone's", default="")
    random_init: bool = _h("build the backbone from its config with random weights", default=False)
    head: str = _h("head (trainables/heads.py): cross-encoder pooling heads, or bi_cosine, which encodes each "
                   "sentence alone (bi-encoder, mean pooling, cosine mapped to 0-5 by a learnable scale and shift)",
                   default="cls")
    text_prefix: str = _h("text put before every sentence (e5 models expect 'query: ')", default="")
    max_length: int = _h("max tokens per pair", default=128)
    padding: str = _h(f"one of {PADDINGS}; dynamic pads each batch to its longest pair", default="dynamic")
    bucket: bool = _h("length-bucketed train batches (with dynamic padding)", default=True)
    hidden_dropout: float | None = _h("backbone hidden dropout; None = model default", default=None)
    attention_dropout: float | None = _h("backbone attention dropout; None = model default", default=None)
    head_dropout: float = _h("dropout in the regression head", default=0.1)
    # --- optimisation -----------------------------------------------------------------------------
    lr: float = _h("peak learning rate", default=2e-5)
    batch_size: int = _h("pairs per optimizer micro-batch", default=32)
    eval_batch_size: int = _h("pairs per inference batch at most", default=128)
    eval_batch_tokens: int = _h("padded token slots per inference batch at most (length-sorted pairs: short ones "
                                "share big batches); 0 = eval_batch_size pairs each", default=2048)
    tta: str = _h("test-time averaging: swap = predict (s1, s2) and (s2, s1) and average them, for dev "
                  "(val_pearson and saved predictions), test and ensemble/predict.py, at twice the inference "
                  "cost; a no-op for bi-encoder heads, whose cosine is symmetric already (trainables/tta.py)",
                  default="none")
    max_epochs: int = _h("epochs to train", default=3)
    optimizer: str = _h("optimizer (trainables/optim.py)", default="adamw")
    weight_decay: float = _h("decoupled (adamw) or L2 weight decay; never on bias/LayerNorm", default=0.01)
    momentum: float = _h("momentum for sgd/rmsprop", default=0.9)
    schedule: str = _h("learning-rate schedule (trainables/optim.py)", default="linear_warmup")
    warmup_ratio: float = _h("fraction of all steps spent warming up (warmup schedules)", default=0.1)
    step_epochs: float = _h("step schedule: epochs between decays", default=1.0)
    step_gamma: float = _h("step schedule: decay factor", default=0.5)
    num_cycles: int = _h("restart schedules: number of cycles", default=2)
    grad_clip: float = _h("max gradient norm; 0 = off", default=1.0)
    accumulate_grad_batches: int = _h("micro-batches per optimizer step", default=1)
    precision: str = _h(f"one of {PRECISIONS}", default="32")
    cpu_kernels: bool = _h("CPU training runs trainables/cpu_kernels.py's dropout and attention (the same maths, "
                           "1.02-1.09x the steps/s on e5-small, bench/RESULTS.md); False = torch's own kernels",
                           default=True)
    loss: str = _h("regression loss (trainables/losses.py)", default="mse")
    huber_delta: float = _h("huber loss delta", default=1.0)
    smooth_l1_beta: float = _h("smooth_l1 loss beta", default=1.0)
    rdrop_alpha: float = _h("R-Drop weight alpha; 0 = off", default=0.0)
    smart_weight: float = _h("SMART adversarial regulariser weight; 0 = off", default=0.0)
    smart_eps: float = _h("SMART perturbation radius (max-norm per token)", default=1e-5)
    smart_step_size: float = _h("SMART ascent step size", default=1e-3)
    smart_noise: float = _h("SMART initial noise std", default=1e-5)
    val_checks_per_epoch: int = _h("validations per epoch over the whole dev set", default=1)
    limit_train_batches: int = _h("train batches per epoch; 0 = all (for smoke tests)", default=0)
    seed: int = _h("seed for init, dropout, shuffling and augmentation", default=42)
    num_threads: int = _h("torch CPU threads per trial; 0 = torch default", default=0)

    def __post_init__(self) -> None:
        _coerce_fields(self)
        _choice("data_format", self.data_format, ("auto", *DATA_FORMATS.names()))
        _choice("padding", self.padding, PADDINGS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("tta", self.tta, TTA_MODES)
        for name, registry in _REGISTERED.items():
            _choice(name, getattr(self, name), registry.names())
        _positive("lr", self.lr)
        _positive("batch_size", self.batch_size)
        _positive("eval_batch_size", self.eval_batch_size)
        _positive("max_epochs", self.max_epochs)
        _positive("accumulate_grad_batches", self.accumulate_grad_batches)
        _positive("val_checks_per_epoch", self.val_checks_per_epoch)
        _positive("huber_delta", self.huber_delta)
        _positive("smooth_l1_beta", self.smooth_l1_beta)
        _positive("step_epochs", self.step_epochs)
        _positive("num_cycles", self.num_cycles)
        if not 8 <= self.max_length <= 4096:
            raise ConfigError(f"max_length={self.max_length}: must be between 8 and 4096")
        for name in ("hidden_dropout", "attention_dropout", "head_dropout"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v < 1.0:
                raise ConfigError(f"{name}={v}: a dropout probability must be in [0, 1)")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio}: must be in [0, 1)")
        for name in ("weight_decay", "grad_clip", "rdrop_alpha", "smart_weight", "smart_eps",
                     "smart_step_size", "smart_noise", "momentum", "augmentation_rate",
                     "limit_train_batches", "num_threads", "eval_batch_tokens"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must be >= 0")
        if not 0.0 < self.step_gamma <= 1.0:
            raise ConfigError(f"step_gamma={self.step_gamma}: must be in (0, 1]")
        if self.augmentation_rate > 1:
            raise ConfigError(f"augmentation_rate={self.augmentation_rate}: must be in [0, 1]")
        if self.num_folds == 1 or self.num_folds < 0:
            raise ConfigError(f"num_folds={self.num_folds}: use 0 (no K-fold) or K >= 2")
        if self.num_folds and not (0 <= self.fold < self.num_folds or self.fold == ALL_FOLDS):
            raise ConfigError(f"fold={self.fold}: must be in 0..{self.num_folds - 1} (or {ALL_FOLDS} = every fold as "
                              f"one candidate) for num_folds={self.num_folds}")
        if self.fold == ALL_FOLDS and not self.num_folds:
            raise ConfigError(f"fold={ALL_FOLDS} (every fold as one candidate) needs num_folds >= 2")
        if self.augmentation == "back_translation" and not self.paraphrases_path:
            raise ConfigError("augmentation=back_translation needs paraphrases_path (a CSV id,sentence_1,sentence_2)")
        if "speller_cache" in self.preprocess and not self.speller_cache:
            raise ConfigError("preprocess step speller_cache needs speller_cache=PATH (a CSV sentence,corrected)")
        if self.preprocess:
            from trainables.textsteps import validate_steps

            self.preprocess = list(validate_steps(self.preprocess))

    # ------------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> TrialConfig:
        check_keys(values.keys(), source=source)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def separate_sentences(self) -> bool:
        """True for bi-encoder heads: each sentence is tokenized and encoded alone."""
        return bool(HEADS.get(self.head).meta.get("separate_sentences", False))

    @property
    def swap_views(self) -> bool:
        """Predict both sentence orders and average (tta: swap); bi-encoder heads are symmetric already."""
        return self.tta == "swap" and not self.separate_sentences

    def replace(self, **changes: Any) -> TrialConfig:
        check_keys(changes.keys(), source="replace()")
        return dataclasses.replace(self, **changes)


def check_keys(keys: Any, *, source: str) -> None:
    valid = set(TrialConfig.field_names())
    for key in keys:
        if key not in valid:
            close = difflib.get_close_matches(str(key), sorted(valid), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"{source}: unknown config key {key!r}.{hint} Valid keys: {', '.join(sorted(valid))}"
            )


def parse_overrides(pairs: list[str] | None, *, source: str = "--set") -> dict[str, Any]:
    """`key=value` strings -> dict; values parsed as YAML scalars (so 1e-5, true, [a, b] work)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"{source} {pair!r}: expected key=value, e.g. --set lr=3e-5")
        key, raw = pair.split("=", 1)
        key = key.strip()
        check_keys([key], source=source)
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"{source} {pair!r}: value is not valid YAML ({e})") from None
    return out


# Fields whose value names a registered implementation; the registry loads its home module on first use.
_REGISTERED: dict[str, Registry] = {
    "head": HEADS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss": LOSSES, "augmentation": AUGMENTATIONS,
}


# --- field coercion --------------------------------------------------------------------------------
_HINTS: dict[str, Any] | None = None


def _field_types() -> dict[str, Any]:
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(TrialConfig)
    return _HINTS


def _coerce_fields(cfg: TrialConfig) -> None:
    """Values from YAML, `--set` or Ray samplers arrive as str/int/numpy types: coerce or refuse."""
    for name, tp in _field_types().items():
        setattr(cfg, name, _coerce(name, getattr(cfg, name), tp))


def _coerce(name: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = next(a for a in args if a is not type(None))
        return _coerce(name, value, inner)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r}: expected a list, e.g. [emoji, spacing]")
        return [str(v) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{name}={value!r}: expected true or false")
    if tp in (int, float) and isinstance(value, bool):  # True is an int in Python: never a number here
        raise ConfigError(f"{name}={value!r}: expected {'an integer' if tp is int else 'a number'}, not true/false")
    if tp is int:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r}: expected an integer") from None
        if not math.isfinite(f) or f != int(f):
            raise ConfigError(f"{name}={value!r}: expected an integer")
        return int(f)
    if tp is float:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r}: expected a number") from None
        if not math.isfinite(f):
            raise ConfigError(f"{name}={value!r}: expected a finite number")
        return f
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{name}={value!r}: expected a string")
        # YAML reads `precision: 32` as an int
        return str(value)
    return value


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: allowed values are {', '.join(allowed)}")


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name}={value}: must be > 0")
