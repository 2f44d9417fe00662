"""The layout rules of docs/ARCHITECTURE.md that neither ruff nor lint-imports checks: small
modules, every subpackage in the layer contract, Keras internals in one module; and ruff and
lint-imports themselves, so that the README's test command is what CI runs."""

import ast
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
MAX_LINES = 400
SOURCES = sorted([*(ROOT / "ssdzoo").rglob("*.py"), *(ROOT / "backbones").rglob("*.py")])
FACADE = {"__init__", "__main__", "_registration"}  # may import anything; in no layer
#: How ssdzoo may reach into Keras' internals: only in ssdzoo/utils/keras_internals.py.
KERAS_INTERNALS = ROOT / "ssdzoo" / "utils" / "keras_internals.py"
PRIVATE_KERAS = re.compile(r"keras\.src\b|\._var_key\b|\._trainable_variables\b|\._keras_history\b"
                           r"|\.update_step\s*=|\bmock\.patch|_KERAS_DIR\b")


def test_sources_are_found():
    assert len(SOURCES) > 20 and KERAS_INTERNALS in SOURCES


def test_no_module_is_over_400_lines():
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in SOURCES}
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sorted(sizes.items()) if n > MAX_LINES]
    assert not big, f"modules over {MAX_LINES} lines (split them, see docs/ARCHITECTURE.md): {big}"


def test_every_subpackage_of_ssdzoo_is_in_the_layers_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    layered = {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
    children = {p.stem if p.is_file() else p.name for p in (ROOT / "ssdzoo").iterdir()
                if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    missing = sorted(f"ssdzoo.{c}" for c in children - FACADE if f"ssdzoo.{c}" not in layered)
    assert not missing, f"put {missing} in a layer of [tool.importlinter] in pyproject.toml"


def test_keras_internals_are_used_in_keras_internals_only():
    uses = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
            for p in SOURCES if p != KERAS_INTERNALS
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if PRIVATE_KERAS.search(line)]
    assert not uses, ("Keras internals outside ssdzoo/utils/keras_internals.py (add a named "
                      f"function there, with a test in tests/test_keras_internals.py): {uses}")


def _tool(*command: str) -> subprocess.CompletedProcess:
    """Run a linter from the repository root (it is a dependency of the ``test`` extra)."""
    exe = shutil.which(command[0])
    assert exe, f"{command[0]} is missing: pip install -e '.[test]'"
    return subprocess.run([exe, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    proc = _tool("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_layer_contracts_hold():
    proc = _tool("lint-imports", "--no-cache")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


#: Keras methods that subclasses override with Keras' own signature and documentation.
KERAS_OVERRIDES = {"call", "build", "compute_output_shape", "get_config", "from_config",
                   "get_build_config", "build_from_config", "__call__"}
SUMMARY_ENDS = (".", ")", ":")


def _public_modules() -> list[Path]:
    """Modules under ssdzoo/ and backbones/ but private ones (``_x.py``; ``__init__`` counts)."""
    return [p for p in SOURCES if not p.stem.startswith("_") or p.stem == "__init__"]


def _registered(tree: ast.Module) -> set[str]:
    """Names of functions a module registers: CLI handlers (``set_defaults(func=f)``) and
    backbone constructors (``@register_backbone``)."""
    names = {kw.value.id for node in ast.walk(tree) if isinstance(node, ast.Call)
             for kw in node.keywords if kw.arg == "func" and isinstance(kw.value, ast.Name)}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if isinstance(target, (ast.Name, ast.Attribute)) and \
                        (target.id if isinstance(target, ast.Name) else target.attr) == "register_backbone":
                    names.add(node.name)
    return names


def _public_functions(tree: ast.Module):
    """``(function, its class or None)`` for each public function and public method of a module."""
    registered = _registered(tree)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.name.startswith("_") or node.name in registered:
                yield node, None
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                name = item.name
                if name in KERAS_OVERRIDES or name.startswith("on_"):
                    continue
                if name == "__init__" or not name.startswith("_"):
                    yield item, node


def _missing(func: ast.FunctionDef, cls: ast.ClassDef | None) -> list[str]:
    """What ``func`` lacks of the style guide's rule: hints, return hint, a one-line summary."""
    args = func.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if cls is not None and params and params[0].arg in ("self", "cls") and \
            not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list):
        params = params[1:]
    missing = [f"hint for {a.arg}" for a in params if a.annotation is None]
    if func.returns is None and func.name != "__init__":
        missing.append("return hint")
    setter = any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in func.decorator_list)
    doc = ast.get_docstring(func) or (ast.get_docstring(cls) if func.name == "__init__" else None)
    if not setter:
        first = doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""
        if not first:
            missing.append("docstring")
        elif not first.endswith(SUMMARY_ENDS):
            missing.append(f"one-line summary (first line ends {first[-12:]!r})")
    return missing


def test_public_functions_have_type_hints_and_a_one_line_docstring():
    """The style guide's "type hints and a one-line docstring with units and box formats on public
    functions", for public functions, public methods of public classes (but Keras overrides and
    callback hooks), CLI handlers and backbone constructors."""
    problems = []
    for path in _public_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for func, cls in _public_functions(tree):
            missing = _missing(func, cls)
            name = f"{cls.name}.{func.name}" if cls is not None else func.name
            if missing:
                problems.append(f"{path.relative_to(ROOT)}:{func.lineno} {name}: {', '.join(missing)}")
    assert not problems, (f"{len(problems)} public functions break the style guide (type hints and a "
                          "one-line docstring with units and box formats):\n" + "\n".join(problems))
