"""The triage policy as a document: YAML → a validated, versioned :class:`PolicyDocument`.

Every mistake is a :class:`ConfigurationError` that names the file and line ("default.yaml:14: gates.max_fraud_risk
must be a number in [0, 1], got 'low'"), raised at load time, never mid-request. The version is the policy's
human name plus a hash of its parsed content, so reformatting or comments do not change it but any value does.

Layout (see ``policies/default.yaml``)::

    policy:    {name, description}
    defaults:  a complete rule set (every key below)
    overrides: {categories: {NAME: rules}, channels: {...}, segments: {...}, facilities: {...}}
               partial rule sets; precedence default < category < channel < segment < facility
    calibration: free-form record of how the gates were chosen (written by `triage policy calibrate`)

``gates.max_error_estimate`` is the one optional setting: the joint gate on the estimated chance that approving
the return is an error, 1 − p_reason · (1 − p_fraud), from the served reason confidence and fraud risk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from returns_triage.errors import ConfigurationError
from returns_triage.serving.domain.model import sha256_of

__all__ = [
    "PolicyDocument",
    "load_policy_document",
    "parse_policy_document",
    "dump_policy_document",
    "default_policy_path",
    "RULE_FIELDS",
    "OPTIONAL_FIELDS",
    "HARD_RULES",
    "LAYERS",
]

LAYERS = ("categories", "channels", "segments", "facilities")  # lowest to highest precedence
LAYER_LABEL = {"categories": "category", "channels": "channel", "segments": "segment", "facilities": "facility"}
HARD_RULES = ("return_window", "non_returnable", "value_cap", "documents_required", "duplicate_claim",
              "refund_above_line_value")
_SEVERITIES = ("high", "medium", "info")

Check = Callable[[Any], str | None]  # returns what is wrong, or None


def _number(lo: float | None = None, hi: float | None = None, *, nullable: bool = False,
            integer: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if v is None and nullable:
            return None
        ok = isinstance(v, int if integer else (int, float)) and not isinstance(v, bool)
        if ok and (lo is None or v >= lo) and (hi is None or v <= hi):
            return None
        kind = "an integer" if integer else "a number"
        bounds = f" in [{lo}, {hi}]" if hi is not None else (f" >= {lo}" if lo is not None else "")
        return f"must be {kind}{bounds}{' or null' if nullable else ''}, got {v!r}"
    return check


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else f"must be a non-empty string, got {v!r}"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _strings(allowed: tuple[str, ...] | None = None) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            return f"must be a list of strings, got {v!r}"
        bad = [x for x in v if allowed is not None and x not in allowed]
        return f"has unknown value(s) {bad}; allowed: {', '.join(allowed or ())}" if bad else None
    return check


# Every leaf of a rule set, by dotted path, with its check. `defaults` must set all of them.
RULE_FIELDS: dict[str, Check] = {
    "queue": _text,
    "sla_hours": _number(0.01, 24 * 90),
    "urgent_sla_hours": _number(0.01, 24 * 90),
    "urgent_priority": _number(0, 100, integer=True),
    "audit_sample_rate": _number(0.0, 1.0),
    "audit_queue": _text,
    "auto_decline": _strings(HARD_RULES),
    "hard_rules.return_window_days": _number(0, 3650, integer=True, nullable=True),
    "hard_rules.return_window_exempt_reasons": _strings(),
    "hard_rules.non_returnable_categories": _strings(),
    "hard_rules.value_cap": _number(0, nullable=True),
    "hard_rules.documents_required_above": _number(0, nullable=True),
    "hard_rules.duplicate_claim": _flag,
    "hard_rules.refund_above_line_value": _flag,
    "gates.min_reason_confidence": _number(0.0, 1.0),
    "gates.max_prediction_set_size": _number(1, 100, integer=True),
    "gates.max_out_of_scope_score": _number(0.0, 1.0),
    "gates.review_reason_codes": _strings(),
    "gates.max_fraud_risk": _number(0.0, 1.0),
    "gates.min_document_confidence": _number(0.0, 1.0),
    "gates.hold_finding_severities": _strings(_SEVERITIES),
    "gates.max_error_estimate": _number(0.0, 1.0, nullable=True),
}
# Settings a complete rule set may leave out: absent (or null) means the gate is not applied, so policies written
# before the gate existed route exactly as they did.
OPTIONAL_FIELDS = frozenset({"gates.max_error_estimate"})
_SECTIONS = {"hard_rules", "gates"}


@dataclass(frozen=True)
class PolicyDocument:
    """A validated policy: the parsed content, where it came from, and its content-hash version."""

    name: str
    content: dict[str, Any]
    source: str = "<memory>"
    lines: dict[tuple[str, ...], int] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def version(self) -> str:
        # Hashed once: every decision reads it (twice), and the document is not changed after it is built.
        return f"{self.name}-{sha256_of(self.content)[:12]}"

    @property
    def defaults(self) -> dict[str, Any]:
        return flatten(self.content["defaults"])

    def layer(self, layer: str, key: str) -> dict[str, Any]:
        """The flattened partial rule set for e.g. ``("facilities", "DC-LYON")``; empty when none."""
        block = (self.content.get("overrides") or {}).get(layer) or {}
        return flatten(block.get(key) or {})


def flatten(rules: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in rules.items():
        if key in _SECTIONS and isinstance(value, Mapping):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if "." in key:
            section, leaf = key.split(".", 1)
            out.setdefault(section, {})[leaf] = value
        else:
            out[key] = value
    return out


def default_policy_path() -> Path:
    return Path(__file__).parent / "policies" / "default.yaml"


def load_policy_document(path: Path | str | None = None) -> PolicyDocument:
    """Read and validate a policy file (the shipped default when ``path`` is None)."""
    file = Path(path) if path else default_policy_path()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read policy file {file}: {exc.strerror or exc}") from exc
    return parse_policy_document(text, source=str(file))


def parse_policy_document(text: str, source: str = "<memory>") -> PolicyDocument:
    import yaml  # the only non-stdlib import of the domain, and only when a policy is loaded

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        opened = getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        if opened is not None and mark is not None and opened.line != mark.line:
            where += f" (in the block opened at line {opened.line + 1})"
        raise ConfigurationError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if node is None:
        raise ConfigurationError(f"{source}:1: the policy file is empty")
    lines: dict[tuple[str, ...], int] = {}
    content = _to_python(node, (), lines, source, yaml)
    _validate(content, lines, source)
    return PolicyDocument(name=content["policy"]["name"], content=content, source=source, lines=lines)


def dump_policy_document(content: Mapping[str, Any]) -> str:
    """YAML text for ``content`` in a stable key order (what `triage policy calibrate` writes)."""
    import yaml

    return yaml.safe_dump(dict(content), sort_keys=False, allow_unicode=True, default_flow_style=False)


def _to_python(node: Any, path: tuple[str, ...], lines: dict[tuple[str, ...], int], source: str,
               yaml: Any) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigurationError(f"{source}:{key_node.start_mark.line + 1}: keys must be plain names")
            if key in out:
                raise ConfigurationError(f"{source}:{key_node.start_mark.line + 1}: duplicate key "
                                         f"{'.'.join((*path, key))!r}")
            out[key] = _to_python(value_node, (*path, key), lines, source, yaml)
            lines[(*path, key, "<key>")] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, str(i)), lines, source, yaml) for i, item in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node)


def _fail(source: str, lines: Mapping[tuple[str, ...], int], path: tuple[str, ...], message: str) -> None:
    line = lines.get(path) or lines.get(path[:-1]) or lines.get((), 1)
    shown = ".".join(p for p in path if p != "<key>")
    raise ConfigurationError(f"{source}:{line}: {shown or 'document'} {message}")


def _validate(doc: Any, lines: Mapping[tuple[str, ...], int], source: str) -> None:
    if not isinstance(doc, dict):
        _fail(source, lines, (), "must be a mapping with policy, defaults and overrides")
    for key in doc:
        if key not in ("policy", "defaults", "overrides", "calibration"):
            _fail(source, lines, (key, "<key>"), f"is not a known section (policy, defaults, overrides, "
                                                 f"calibration)")
    for required in ("policy", "defaults"):
        if required not in doc:
            _fail(source, lines, (), f"needs a '{required}' section")
    meta = doc["policy"]
    if not isinstance(meta, dict) or _text(meta.get("name")) is not None:
        _fail(source, lines, ("policy", "name"), "must be a non-empty string (the policy's human name)")
    _validate_rules(doc["defaults"], ("defaults",), lines, source, complete=True)
    overrides = doc.get("overrides") or {}
    if not isinstance(overrides, dict):
        _fail(source, lines, ("overrides",), f"must map {', '.join(LAYERS)} to rule sets")
    for layer, block in overrides.items():
        if layer not in LAYERS:
            _fail(source, lines, ("overrides", layer, "<key>"), f"is not one of {', '.join(LAYERS)}")
        if not isinstance(block, dict):
            _fail(source, lines, ("overrides", layer), "must map names to rule sets")
        for name, rules in block.items():
            _validate_rules(rules, ("overrides", layer, str(name)), lines, source, complete=False)
    if "calibration" in doc and not isinstance(doc["calibration"], dict):
        _fail(source, lines, ("calibration",), "must be a mapping")


def _validate_rules(rules: Any, path: tuple[str, ...], lines: Mapping[tuple[str, ...], int], source: str,
                    *, complete: bool) -> None:
    if not isinstance(rules, dict):
        _fail(source, lines, path, "must be a mapping of rule settings")
    for key, value in rules.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                _fail(source, lines, (*path, key), "must be a mapping")
            for leaf in value:
                if f"{key}.{leaf}" not in RULE_FIELDS:
                    known = sorted(k.split(".", 1)[1] for k in RULE_FIELDS if k.startswith(key + "."))
                    _fail(source, lines, (*path, key, leaf, "<key>"),
                          f"is not a known setting; {key} takes {', '.join(known)}")
        elif key not in RULE_FIELDS:
            known = sorted({k.split(".")[0] for k in RULE_FIELDS})
            _fail(source, lines, (*path, key, "<key>"), f"is not a known setting; expected one of {', '.join(known)}")
    flat = flatten(rules)
    for name, check in RULE_FIELDS.items():
        dotted = tuple(name.split("."))
        if name not in flat:
            if complete and name not in OPTIONAL_FIELDS:
                _fail(source, lines, path, f"must set {name} (defaults are a complete rule set)")
            continue
        problem = check(flat[name])
        if problem is not None:
            _fail(source, lines, (*path, *dotted), problem)
