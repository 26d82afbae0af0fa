"""YAML file -> validated, immutable config object, with `extends:`, `--set` overrides and units.

The pipeline is three steps, each on a plain tree of `_Node`s that remember where every value
came from (file and line, or the `--set` that wrote it):

1. read: YAML is composed with a SafeLoader subclass (safe tags only, duplicate keys rejected);
   `extends:` targets are read first and the file is deep-merged over them (the child wins);
2. override: each `--set a.b.c=VALUE` writes VALUE (parsed as YAML) into the tree;
3. check: the tree is walked against the schema (frozen dataclasses declared with
   `archsim.config.params`) picked by the top-level `kind:`; every problem found is collected
   and raised as one ConfigError whose first line is the first problem.

Field types the checker understands: bool, int, float, str, a nested dataclass (a section),
`dict` / `dict[K, V]` (a bare `dict` holds numbers: ints and floats, or quantities when the
field has a unit), `tuple[T, ...]` / `list[T]` (stored as tuples), `Literal[...]`, `T | None`,
and `Any` (plain data, frozen).
"""
from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import functools
import math
import os
import re
import stat
import types
import typing
from fractions import Fraction
from typing import Any, Iterable, Mapping, NamedTuple

import yaml

from archsim.config import units
from archsim.config.params import MISSING
from archsim.errors import ConfigError

MAX_REPORTED_ERRORS = 20


# ------------------------------------------------------------------------------- values

class FrozenDict(dict):
    """The immutable mapping a config's dict fields hold.

    A dict subclass (so json.dumps, isinstance(x, dict) and == with plain dicts all work) whose
    mutating methods raise; hashable and picklable, so configs can key caches and cross
    process boundaries (Dask sweeps).
    """

    __slots__ = ()

    def _immutable(self, *args, **kwargs):
        raise TypeError("a config is immutable: change it with --set overrides or "
                        "dataclasses.replace, not in place")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable
    __ior__ = _immutable

    def __hash__(self):
        return hash(frozenset(self.items()))

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __repr__(self):
        return f"FrozenDict({dict.__repr__(self)})"


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()
"""The `default` that `describe` gives a field the config must set."""


class ParamInfo(NamedTuple):
    """One row of `describe`: a key path with its type, unit, doc and default (SI units)."""
    path: str
    type: str
    unit: str | None
    doc: str
    default: Any


def _freeze(value: Any) -> Any:
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, dict):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


# ------------------------------------------------------------------------------- registry

_KINDS: dict[str, type] = {}
DEFAULT_KIND = "gpu"


def register_kind(name: str, schema: type) -> type:
    """Make `kind: name` in a config file select the frozen dataclass `schema`. Returns schema.

    Registering the same schema twice is harmless; a different schema under a taken name is a
    programming error (ValueError).
    """
    if not (dataclasses.is_dataclass(schema) and isinstance(schema, type)):
        raise TypeError(f"register_kind({name!r}, ...): {schema!r} is not a dataclass")
    if not schema.__dataclass_params__.frozen:
        raise TypeError(f"register_kind({name!r}, ...): {schema.__name__} must be frozen")
    if _KINDS.get(name, schema) is not schema:
        raise ValueError(f"config kind {name!r} is already registered to {_KINDS[name].__name__}")
    _KINDS[name] = schema
    return schema


def kinds() -> dict[str, type]:
    """The registered config kinds: name -> schema class."""
    return dict(_KINDS)


def schema_for(kind: str) -> type:
    """The schema class registered for `kind` (KeyError if none)."""
    return _KINDS[kind]


# ------------------------------------------------------------------------------- located tree

@dataclasses.dataclass(frozen=True)
class _Loc:
    file: str | None = None
    line: int | None = None
    override: str | None = None  # the --set key path this value came from


@dataclasses.dataclass(frozen=True, eq=False)
class _Node:
    """A value read from YAML: a dict of _Nodes, a list of _Nodes, or a scalar; and its place.

    For a mapping entry the place is its key's line, which is where a user looks first.
    """
    value: Any
    loc: _Loc


def _error(message: str, loc: _Loc | None, key: str | None) -> ConfigError:
    if loc is not None and loc.override is not None:
        err = ConfigError(message, file=f"--set {loc.override}",
                          key=key if key != loc.override else None)
        err.key = key
        return err
    if loc is None:
        return ConfigError(message, key=key)
    return ConfigError(message, file=loc.file, line=loc.line, key=key)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 exponent floats without a dot or sign (1e9, 2.5E-3),
    which YAML 1.1 (PyYAML) would otherwise read as strings."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


# Caps on what a config may be: a machine description is a few hundred lines, so anything far
# beyond these is a mistake or an attack (a 322-byte alias bomb expands to 10^9 values).
MAX_YAML_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 20_000         # values after aliases are expanded (h200.yaml has ~150)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")


def _check_text(text: str, file: str | None, override: str | None) -> None:
    if len(text) > MAX_YAML_BYTES:
        raise _error(f"{len(text):,} characters is too large for a config (at most "
                     f"{MAX_YAML_BYTES:,})", _Loc(file, None, override), None)
    depth = deepest = 0  # flow brackets: PyYAML takes seconds to fail on thousands of them
    for ch in text if ("[" in text or "{" in text) else ():
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    raise _error(f"nested more than {MAX_DEPTH} levels deep",
                                 _Loc(file, None, override), None)
        elif ch in "]}":
            depth -= 1
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1 if override is None else None
        raise _error(f"control character {bad.group()!r} is not allowed in YAML",
                     _Loc(file, line, override), None)


class _Budget:
    """Counts values as the tree is built, so alias expansion and nesting stay bounded."""

    def __init__(self, file, override):
        self.values, self.file, self.override = 0, file, override

    def take(self, node: yaml.Node, depth: int) -> None:
        self.values += 1
        line = node.start_mark.line + 1 if self.override is None else None
        if depth > MAX_DEPTH:
            raise _error(f"nested more than {MAX_DEPTH} levels deep", _Loc(self.file, line,
                                                                          self.override), None)
        if self.values > MAX_VALUES:
            raise _error(f"more than {MAX_VALUES:,} values once aliases are expanded (an alias "
                         f"bomb?)", _Loc(self.file, line, self.override), None)


def _expanded_size(node: yaml.Node, memo: dict) -> int:
    """Values in `node` with every alias expanded, counted without expanding (memo by node)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a cycle counts once (PyYAML rejects recursive aliases later anyway)
    if isinstance(node, yaml.MappingNode):
        n = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        n = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        n = 1
    memo[id(node)] = min(n, 10**18)
    return memo[id(node)]


def _parse_yaml(text: str, file: str | None, override: str | None = None) -> _Node | None:
    """The _Node tree of one YAML document (None if it is empty)."""
    _check_text(text, file, override)
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        if root is None:
            return None
        size = _expanded_size(root, {})
        if size > MAX_VALUES:
            raise _error(f"about {size:,} values once aliases are expanded, more than "
                         f"{MAX_VALUES:,} (an alias bomb?)", _Loc(file, None, override), None)
        return _from_yaml(loader, root, file, override, "", None, _Budget(file, override), 0)
    except RecursionError:
        raise _error(f"nested too deeply to read (at most {MAX_DEPTH} levels)",
                     _Loc(file, None, override), None) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = "; ".join(str(p) for p in (e.context, e.problem) if p)
        line = mark.line + 1 if mark is not None and override is None else None
        raise _error(f"invalid YAML: {what}", _Loc(file, line, override), None) from None
    except yaml.YAMLError as e:
        raise _error(f"invalid YAML: {e}", _Loc(file, None, override), None) from None
    finally:
        if loader is not None:
            loader.dispose()


def _from_yaml(loader: _Loader, node: yaml.Node, file: str | None, override: str | None,
               path: str, loc: _Loc | None, budget: _Budget, depth: int) -> _Node:
    budget.take(node, depth)
    loc = loc or _Loc(file, node.start_mark.line + 1 if override is None else None, override)
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        # scalars go through SafeLoader's constructors, which reject unknown tags themselves
        raise _error(f"invalid YAML: tag {node.tag!r} is not allowed (configs are plain data)",
                     _Loc(file, node.start_mark.line + 1 if override is None else None, override),
                     path or None)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for knode, _ in node.value:
            if knode.tag == _MERGE_TAG:
                continue
            key = _yaml_key(loader, knode, file, override, path)
            line = knode.start_mark.line + 1
            if key in seen:
                raise _error(f"duplicate key {key!r} (first set at line {seen[key]}); YAML would "
                             f"silently keep the last one", _Loc(file, line, override),
                             _join(path, key))
            seen[key] = line
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merges; own keys come last and win
        items = {}
        for knode, vnode in node.value:
            key = _yaml_key(loader, knode, file, override, path)
            kloc = _Loc(file, knode.start_mark.line + 1 if override is None else None, override)
            items[key] = _from_yaml(loader, vnode, file, override, _join(path, key), kloc,
                                    budget, depth + 1)
        return _Node(items, loc)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_from_yaml(loader, v, file, override, f"{path}[{i}]", None, budget,
                                 depth + 1) for i, v in enumerate(node.value)], loc)
    try:
        return _Node(loader.construct_object(node, deep=True), loc)
    except yaml.constructor.ConstructorError as e:  # an unknown tag such as !!python/name
        raise _error(f"invalid YAML: {e.problem}", loc, path or None) from None


def _yaml_key(loader, knode, file, override, path):
    if not isinstance(knode, yaml.ScalarNode):
        raise _error("a key must be a plain name, found a " +
                     ("mapping" if isinstance(knode, yaml.MappingNode) else "list"),
                     _Loc(file, knode.start_mark.line + 1, override), path or None)
    return loader.construct_object(knode, deep=True)


def _from_python(value: Any, loc: _Loc) -> _Node:
    if isinstance(value, Mapping):
        return _Node({k: _from_python(v, loc) for k, v in value.items()}, loc)
    if isinstance(value, (list, tuple)):
        return _Node([_from_python(v, loc) for v in value], loc)
    return _Node(value, loc)


def _merge(base: _Node | None, child: _Node) -> _Node:
    """Deep merge: mappings merge key by key, anything else in the child replaces the base.

    An empty (null) child over a mapping keeps the mapping: `l2:` with its lines commented out
    means "nothing to change here", not "forget the base's l2".
    """
    if child.value is None and base is not None and isinstance(base.value, dict):
        return base
    if base is None or not (isinstance(base.value, dict) and isinstance(child.value, dict)):
        return child
    items = dict(base.value)
    for key, value in child.value.items():
        items[key] = _merge(items.get(key), value)
    return _Node(items, child.loc)


# ------------------------------------------------------------------------------- files, extends

def _read_file(display: str, via: _Loc | None) -> _Node:
    try:
        info = os.stat(display)
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            what = "not a regular file (a device, pipe or socket)"
            if via is not None:
                raise _error(f"extends {display}, which is {what}", via, "extends")
            raise ConfigError(f"{what}: expected a YAML file", file=display)
        if info.st_size > MAX_YAML_BYTES:
            raise _error(f"{info.st_size:,} bytes is too large for a config (at most "
                         f"{MAX_YAML_BYTES:,})", via if via is not None else _Loc(display),
                         "extends" if via is not None else None)
        with open(display, "rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        if via is not None:
            raise _error(f"extends a file that does not exist: {display}", via, "extends") from None
        raise ConfigError("file not found", file=display) from None
    except IsADirectoryError:
        if via is not None:
            raise _error(f"extends a directory, not a file: {display}", via, "extends") from None
        raise ConfigError("is a directory, not a config file", file=display) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", file=display) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text (byte {e.start})", file=display) from None
    return _top_level(_parse_yaml(text, display), display)


def _top_level(tree: _Node | None, display: str | None) -> _Node:
    if tree is None:
        raise ConfigError("empty file: expected a mapping of config keys", file=display)
    if not isinstance(tree.value, dict):
        raise _error(f"expected a mapping of config keys at the top level, found "
                     f"{_found(tree.value)}", tree.loc, None)
    return tree


def _resolve_extends(tree: _Node, display: str | None,
                     stack: tuple[tuple[str, str], ...]) -> _Node:
    """`tree` merged over the files its `extends:` names (each resolved the same way)."""
    if "extends" not in tree.value:
        return tree
    items = dict(tree.value)
    ext = items.pop("extends")
    tree = _Node(items, tree.loc)
    targets = ext.value if isinstance(ext.value, list) else [ext] if ext.value is not None else []
    base = None
    for target in targets:
        if not isinstance(target.value, str) or not target.value.strip():
            raise _error(f"expected a file name or a list of file names, found "
                         f"{_found(target.value)}", target.loc, "extends")
        here = os.path.dirname(display) if display else ""
        target_display = os.path.normpath(os.path.join(here, target.value))
        real = os.path.realpath(target_display)
        seen = [r for r, _ in stack]
        if real in seen:
            cycle = [d for _, d in stack[seen.index(real):]] + [target_display]
            start = os.path.dirname(cycle[0])
            cycle = [os.path.relpath(d, start) if start else d for d in cycle]
            raise _error("circular extends: " + " -> ".join(cycle), target.loc, "extends")
        parent = _read_file(target_display, target.loc)
        parent = _resolve_extends(parent, target_display, stack + ((real, target_display),))
        base = _merge(base, parent)
    return _merge(base, tree)


# ------------------------------------------------------------------------------- overrides

def _parse_overrides(overrides: Iterable[str] | Mapping[str, Any]) -> list[tuple[str, _Node]]:
    if isinstance(overrides, str):
        overrides = [overrides]
    pairs: list[tuple[str, Any, bool]] = []  # (key, value, value is text to parse as YAML)
    if isinstance(overrides, Mapping):
        pairs = [(str(k), v, isinstance(v, str)) for k, v in overrides.items()]
    else:
        for item in overrides:
            if not isinstance(item, str) or "=" not in item:
                raise ConfigError(f"expected KEY=VALUE such as 'l2.size=80MiB', found {item!r}",
                                  file=f"--set {item}")
            key, _, text = item.partition("=")
            pairs.append((key, text, True))
    out = []
    for key, value, is_text in pairs:
        key = key.strip()
        loc = _Loc(override=key)
        if not key or not all(s.strip() for s in key.split(".")) or key != key.replace(" ", ""):
            raise _error("expected a dotted key path such as 'l2.size'", loc, None)
        if is_text:
            node = _parse_yaml(value, None, override=key) if value.strip() else None
            node = node or _Node(None, loc)
        else:
            node = _from_python(value, loc)
        out.append((key, node))
    return out


def _apply_override(tree: _Node, key: str, value: _Node) -> _Node:
    segments = key.split(".")

    def put(node: _Node | None, i: int) -> _Node:
        if i == len(segments):
            return _merge(node, value)
        if node is None or node.value is None:
            node = _Node({}, value.loc)
        elif not isinstance(node.value, dict):
            raise _error(f"{'.'.join(segments[:i])} is {_found(node.value)}, not a section "
                         f"with keys", value.loc, key)
        items = dict(node.value)
        seg = segments[i]
        if seg not in items:  # YAML keys can be ints or bools; the command line has only text
            seg = next((k for k in items if str(k) == seg), seg)
        items[seg] = put(items.get(seg), i + 1)
        return _Node(items, node.loc)

    return put(tree, 0)


# ------------------------------------------------------------------------------- checking

_BAD = object()  # a value that failed; its error is already recorded


def _found(value: Any) -> str:
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str) and len(value) > 60:  # keep the message one readable line
        return repr(value[:57] + "...") + f" (a string of {len(value)} characters)"
    if isinstance(value, (int, float, str)):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r} (a {type(value).__name__})"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return _freeze(f.default)
    if f.default_factory is not MISSING:
        return _freeze(f.default_factory())
    return REQUIRED


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    """Walks a _Node tree against a schema, building the config and collecting errors."""

    def __init__(self, root: type, si_numbers: bool = False):
        self.root = root
        self.si_numbers = si_numbers  # from_dict: bare numbers are SI values (to_dict's output)
        self.errors: list[ConfigError] = []

    def fail(self, message: str, loc: _Loc | None, key: str | None) -> object:
        self.errors.append(_error(message, loc, key))
        return _BAD

    def raise_errors(self) -> None:
        if not self.errors:
            return
        first, rest = self.errors[0], self.errors[1:MAX_REPORTED_ERRORS]
        lines = [str(e) for e in rest]
        if len(self.errors) > MAX_REPORTED_ERRORS:
            lines.append(f"... and {len(self.errors) - MAX_REPORTED_ERRORS} more errors")
        message = first.args[0]
        if lines:
            message += "\n" + "\n".join(lines)
        err = ConfigError.__new__(ConfigError)
        Exception.__init__(err, message)
        err.file, err.line, err.key = first.file, first.line, first.key
        err.errors = list(self.errors)
        raise err

    # sections ---------------------------------------------------------------------------

    def section(self, cls: type, node: _Node, path: str) -> Any:
        name = f"section {path!r}" if path else "the top level"
        if node.value is None:  # `l2:` with every line below commented out: an empty section
            node = _Node({}, node.loc)
        if not isinstance(node.value, dict):
            return self.fail(f"expected a mapping ({name}), found {_found(node.value)}",
                             node.loc, path or None)
        fields = _fields(cls)
        names = [f.name for f in fields]
        for key, child in node.value.items():
            if key not in names:
                self.fail(f"unknown key {key!r} in {name}{self._suggest(key, names, path)}",
                          child.loc, _join(path, key))
        hints = _hints(cls)
        kwargs, bad = {}, False
        for f in fields:
            key = _join(path, f.name)
            if f.name in node.value:
                value = self.value(hints[f.name], f.metadata, node.value[f.name], key)
            else:
                value = _default(f)
                if value is REQUIRED:
                    value = self.fail(f"missing required key {f.name!r} in {name}: "
                                      f"{self._wanted(hints[f.name], f.metadata)}", node.loc, key)
            bad = bad or value is _BAD
            kwargs[f.name] = value
        if bad:
            return _BAD
        try:
            return cls(**kwargs)
        except (ValueError, ConfigError) as e:  # a schema's __post_init__ cross-field checks
            return self.fail(str(e), node.loc, path or None)

    def _suggest(self, key: Any, names: list[str], path: str) -> str:
        if not isinstance(key, str):
            return " (keys are names; YAML reads yes/no/on/off as booleans and digits as numbers)"
        hint = _did_you_mean(key, names)
        if hint:
            return hint
        # perhaps the key belongs somewhere else ("size" at the top level -> "l2.size")
        paths = [p.path for p in describe(self.root)]
        elsewhere = [p for p in paths if p.rsplit(".", 1)[-1] == key]
        if elsewhere:
            return "; did you mean " + " or ".join(repr(p) for p in elsewhere[:3]) + "?"
        return _did_you_mean(_join(path, key), paths)

    def _wanted(self, tp: Any, meta: Mapping) -> str:
        unit = meta.get("unit")
        what = _type_name(tp, unit)
        if unit and tp in (int, float):
            what = f"a quantity in {unit} such as {units.EXAMPLES[unit]!r}"
        doc = meta.get("doc")
        return f"{doc} ({what})" if doc else what

    # values -----------------------------------------------------------------------------

    def value(self, tp: Any, meta: Mapping, node: _Node, path: str) -> Any:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if node.value is None and len(members) < len(args):
                return None
            if len(members) == 1:
                return self.value(members[0], meta, node, path)
            for member in members:  # first member that accepts the value
                trial = _Checker(self.root, self.si_numbers)
                out = trial.value(member, meta, node, path)
                if out is not _BAD:
                    return out
            return self.fail(f"expected {_type_name(tp, meta.get('unit'))}, found "
                             f"{_found(node.value)}", node.loc, path)
        if dataclasses.is_dataclass(tp):
            return self.section(tp, node, path)
        if tp is dict or origin in (dict, collections.abc.Mapping):
            return self.mapping(args, meta, node, path)
        if tp in (tuple, list) or origin in (tuple, list, collections.abc.Sequence):
            return self.sequence(args, meta, node, path)
        if tp is Any:
            return _freeze(_plain(node))
        if origin is typing.Literal:
            meta = dict(meta, choices=args)
            tp = str if all(isinstance(a, str) for a in args) else Any
            return self.scalar(tp, meta, node, path)
        if tp in (bool, int, float, str, "number"):
            return self.scalar(tp, meta, node, path)
        raise TypeError(f"config field {path}: type {tp!r} is not supported by archsim.config")

    def mapping(self, args: tuple, meta: Mapping, node: _Node, path: str) -> Any:
        key_type, value_type = args if args else (str, "number")
        if node.value is None:
            node = _Node({}, node.loc)
        if not isinstance(node.value, dict):
            return self.fail(f"expected a mapping of names to {_type_name(value_type, meta.get('unit'))}"
                             f", found {_found(node.value)}", node.loc, path)
        out, bad = {}, False
        for key, child in node.value.items():
            if key_type in (str, int) and (type(key) is not key_type):
                want = "a name" if key_type is str else "an integer"
                self.fail(f"expected {want} as key, found {_found(key)}", child.loc,
                          _join(path, key))
                bad = True
                continue
            value = self.value(value_type, meta, child, _join(path, key))
            bad = bad or value is _BAD
            out[key] = value
        return _BAD if bad else FrozenDict(out)

    def sequence(self, args: tuple, meta: Mapping, node: _Node, path: str) -> Any:
        if not isinstance(node.value, list):
            return self.fail(f"expected a list, found {_found(node.value)}", node.loc, path)
        items = node.value
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            types_ = [args[0]] * len(items)
        elif args:
            if len(args) != len(items):
                return self.fail(f"expected a list of {len(args)} items, found {len(items)}",
                                 node.loc, path)
            types_ = list(args)
        else:
            types_ = [Any] * len(items)
        out = [self.value(t, meta, item, f"{path}[{i}]")
               for i, (t, item) in enumerate(zip(types_, items))]
        return _BAD if any(v is _BAD for v in out) else tuple(out)

    def scalar(self, tp: Any, meta: Mapping, node: _Node, path: str) -> Any:
        raw, unit = node.value, meta.get("unit")
        if tp in (int, float, "number"):
            value = self.number(tp, unit, node, path)
        elif tp is bool:
            value = raw if isinstance(raw, bool) else self.fail(
                f"expected true or false, found {_found(raw)}", node.loc, path)
        elif tp is str:
            hint = " (YAML reads yes/no/on/off as booleans; quote it)" if isinstance(raw, bool) else ""
            value = raw if isinstance(raw, str) else self.fail(
                f"expected a string, found {_found(raw)}{hint}", node.loc, path)
        else:
            value = _freeze(_plain(node))
        if value is _BAD:
            return value
        return self.check_bounds(value, meta, node, path)

    def number(self, tp: Any, unit: str | None, node: _Node, path: str) -> Any:
        raw = node.value
        is_number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        if is_number and isinstance(raw, float) and not math.isfinite(raw):
            return self.fail(f"expected a finite number, found {raw!r}", node.loc, path)
        if unit:
            wanted = f"a quantity in {unit} such as {units.EXAMPLES[unit]!r}"
            if isinstance(raw, str):
                try:
                    exact = units.parse_exact(raw, unit)
                except units.UnitError as e:
                    return self.fail(f"expected {wanted}, found {raw!r}: {e}", node.loc, path)
            elif is_number and self.si_numbers:
                exact = Fraction(raw)
            elif is_number:
                return self.fail(f"expected {wanted}, found {raw!r} (a number without a unit)",
                                 node.loc, path)
            else:
                return self.fail(f"expected {wanted}, found {_found(raw)}", node.loc, path)
            if tp is int or (tp == "number" and unit == "B"):
                if exact.denominator != 1:
                    return self.fail(f"expected a whole number of {unit}, found {raw!r}",
                                     node.loc, path)
                return int(exact)
            return float(exact)
        if not is_number:
            want = "an integer" if tp is int else "a number"
            hint = ""
            if isinstance(raw, str):
                try:
                    float(raw)
                    hint = " (a string: remove the quotes)"
                except ValueError:
                    if units._QUANTITY.match(raw):
                        hint = " (this field is a plain number without a unit)"
            return self.fail(f"expected {want}, found {_found(raw)}{hint}", node.loc, path)
        if tp is int:
            if isinstance(raw, float):
                if not raw.is_integer():
                    return self.fail(f"expected an integer, found {raw!r}", node.loc, path)
                return int(raw)
            return raw
        return float(raw) if tp is float else raw

    def check_bounds(self, value: Any, meta: Mapping, node: _Node, path: str) -> Any:
        unit, raw = meta.get("unit"), node.value
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            hint = _did_you_mean(value, [c for c in choices if isinstance(c, str)]) \
                if isinstance(value, str) else ""
            return self.fail(f"expected one of {', '.join(repr(c) for c in choices)}, found "
                             f"{_found(raw)}{hint}", node.loc, path)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return value
        show = (lambda b: units.format_quantity(b, unit)) if unit else repr
        for op, bound, ok in (("ge", ">=", value >= meta["ge"] if meta.get("ge") is not None else True),
                              ("gt", ">", value > meta["gt"] if meta.get("gt") is not None else True),
                              ("le", "<=", value <= meta["le"] if meta.get("le") is not None else True)):
            if not ok:
                return self.fail(f"expected a value {bound} {show(meta[op])}, found {_found(raw)}",
                                 node.loc, path)
        return value


def _plain(node: _Node) -> Any:
    if isinstance(node.value, dict):
        return {k: _plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(v) for v in node.value]
    return node.value


def _type_name(tp: Any, unit: str | None = None) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp == "number":
        return ("int" if unit == "B" else "float") if unit else "number"
    if dataclasses.is_dataclass(tp):
        return "section"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a, unit) for a in args)
    if tp is type(None):
        return "None"
    if tp is dict or origin in (dict, collections.abc.Mapping):
        k, v = args if args else (str, "number")
        return f"dict[{_type_name(k)}, {_type_name(v, unit)}]"
    if tp in (tuple, list) or origin in (tuple, list, collections.abc.Sequence):
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            return f"tuple[{_type_name(args[0], unit)}, ...]"
        return f"tuple[{', '.join(_type_name(a, unit) for a in args)}]" if args else "tuple"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


# ------------------------------------------------------------------------------- public API

def _select_kind(tree: _Node) -> tuple[type, _Node]:
    node = tree.value.get("kind")
    kind = DEFAULT_KIND if node is None or node.value is None else node.value
    if not isinstance(kind, str):
        raise _error(f"expected a config kind name such as {DEFAULT_KIND!r}, found {_found(kind)}",
                     node.loc, "kind")
    if kind not in _KINDS:
        known = ", ".join(repr(k) for k in sorted(_KINDS)) or "none registered"
        raise _error(f"unknown config kind {kind!r} (known kinds: {known}){_did_you_mean(kind, _KINDS)}",
                     node.loc if node is not None else tree.loc, "kind")
    schema = _KINDS[kind]
    if node is not None and "kind" not in {f.name for f in _fields(schema)}:
        tree = _Node({k: v for k, v in tree.value.items() if k != "kind"}, tree.loc)
    return schema, tree


def _build(tree: _Node, overrides, si_numbers: bool = False) -> Any:
    for key, value in _parse_overrides(overrides):
        if key.split(".")[0] == "extends":
            raise _error("extends cannot be overridden: write a file that extends both",
                         value.loc, None)
        tree = _apply_override(tree, key, value)
    schema, tree = _select_kind(tree)
    checker = _Checker(schema, si_numbers)
    config = checker.section(schema, tree, "")
    checker.raise_errors()
    return config


def load_config(path: str | os.PathLike, overrides: Iterable[str] | Mapping[str, Any] = ()) -> Any:
    """Read the YAML config at `path` into its frozen schema object (chosen by `kind:`).

    `extends:` files are merged under it first; then each override ("l2.size=80MiB", the CLI's
    `--set`; or a mapping {"l2.size": "80MiB"}) is applied in order. Raises ConfigError naming
    file, line, key path, what was expected and what was found.
    """
    display = os.fspath(path)
    tree = _read_file(display, None)
    tree = _resolve_extends(tree, display, ((os.path.realpath(display), display),))
    return _build(tree, overrides)


def validate_file(path: str | os.PathLike,
                  overrides: Iterable[str] | Mapping[str, Any] = ()) -> Any:
    """`archsim validate FILE`: load and check the config, raising ConfigError if it is bad."""
    return load_config(path, overrides)


def load_config_text(text: str, overrides: Iterable[str] | Mapping[str, Any] = (), *,
                     file: str = "<string>") -> Any:
    """load_config for YAML held in a string (tests, generated configs). `file` names it in
    errors; a relative `extends:` is resolved against the directory part of `file`."""
    tree = _top_level(_parse_yaml(text, file), file)
    tree = _resolve_extends(tree, file, ())
    return _build(tree, overrides)


def from_dict(data: Mapping[str, Any], overrides: Iterable[str] | Mapping[str, Any] = ()) -> Any:
    """The config `to_dict` produced `data` from: bare numbers are read as SI values, so
    `from_dict(to_dict(c)) == c`. Quantity strings ("60 MiB") are accepted too."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of config keys, found {_found(data)}")
    return _build(_from_python(data, _Loc()), overrides, si_numbers=True)


def to_dict(config: Any) -> dict:
    """The resolved config as plain JSON-serialisable data: nested dicts, lists, SI numbers.

    A registered schema without a `kind` field gets a leading "kind" key, so that
    `from_dict(to_dict(c)) == c` for every kind.
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        out = {f.name: _to_plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
        if "kind" not in out:
            name = next((k for k, cls in _KINDS.items() if cls is type(config)), None)
            if name is not None:
                out = {"kind": name} | out
        return out
    raise TypeError(f"to_dict expects a config object, got {type(config).__name__}")


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def describe(schema: type | str, prefix: str = "") -> list[ParamInfo]:
    """Every parameter of `schema` (a class or a registered kind name), depth first:
    (key path, type, unit, doc, default). A section gets its own row (type "section"); the
    sections inside a dict[str, Section] field appear as "field.*.key". `default` is REQUIRED
    where the config must set it, else the SI default."""
    cls = _KINDS[schema] if isinstance(schema, str) else schema
    rows = []
    hints = _hints(cls)
    for f in _fields(cls):
        tp, path = hints[f.name], _join(prefix, f.name)
        default = _default(f)
        if dataclasses.is_dataclass(default) or isinstance(default, (FrozenDict, tuple)):
            default = _to_plain(default)
        rows.append(ParamInfo(path, _type_name(tp, f.metadata.get("unit")), f.metadata.get("unit"),
                              f.metadata.get("doc", ""), default))
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, path))
        elif typing.get_origin(tp) in (dict, collections.abc.Mapping):
            value_type = typing.get_args(tp)[1]
            if dataclasses.is_dataclass(value_type):  # dict[str, Section]: "caches.*.size"
                rows.extend(describe(value_type, f"{path}.*"))
    return rows
