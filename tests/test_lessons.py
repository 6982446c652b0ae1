"""The lesson as a declared unit: what each lesson owns in kit/, and what it may import.

Contract (see kit/lessons.py): every kit module is core or owned by exactly one lesson; a lesson's code
(its modules, its exercises `kit/exercises/exNN.py`, its notebooks) imports only core modules and its
own; no module imports a private name from another; kit's modules import each other without cycles
(imports inside functions and module `__getattr__` count); the README's lesson table is the lesson list.
"""
import ast
import json
import re
from pathlib import Path

import pytest

from kit.lessons import CORE_MODULES, LESSONS
from kit.paths import ROOT

KIT = ROOT / "kit"


def module_name(path: Path) -> str:
    """'automl', 'flower_app.fedmnist', 'exercises' (a package's __init__), 'exercises.ex01', '__init__'."""
    parts = list(path.relative_to(KIT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(KIT.rglob("*.py")) if "__pycache__" not in p.parts}


def owner(module: str) -> str:
    """'core' or the number of the lesson that owns `module` ('exercises.ex05' belongs to lesson 05)."""
    match = re.fullmatch(r"exercises\.ex(\d\d)", module)
    if match:
        return match.group(1)
    top = module.split(".")[0]
    if top in CORE_MODULES:
        return "core"
    owners = [lesson.number for lesson in LESSONS if top in lesson.modules]
    return owners[0] if len(owners) == 1 else f"unowned or shared: {owners}"


# The capstone's point is combining the course's parts: lesson 12 may import any lesson's PUBLIC names (its
# modules, exercises and notebooks); private names stay off limits for it too (test_no_private_names_...).
COMBINES_LESSONS = {"12"}


def allowed(importer: str, target: str) -> bool:
    """May code owned by `importer` ('core' or a lesson number) import kit module `target`?"""
    return owner(target) in ("core", importer) or importer in COMBINES_LESSONS


def _kit_target(dotted: str) -> str:
    """The kit module an import of `kit.<dotted>` reaches: the longest existing module prefix."""
    parts = dotted.split(".") if dotted else []
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts) or "__init__"


def kit_imports(tree: ast.AST, here: str = "") -> list[tuple[str, str | None, int]]:
    """(kit module imported, name taken from it or None, line) for every import anywhere in `tree`,
    functions and module `__getattr__` included; `from kit import x` counts as importing module x when
    kit/x.py (or kit/x/) exists."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "kit" or alias.name.startswith("kit."):
                    found.append((_kit_target(alias.name[4:]), None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                raise AssertionError(f"kit.{here} line {node.lineno}: write kit imports absolutely (from kit...)")
            if name != "kit" and not name.startswith("kit."):
                continue
            prefix = name[4:]
            for alias in node.names:
                sub = f"{prefix}.{alias.name}" if prefix else alias.name
                if sub in MODULES:
                    found.append((sub, None, node.lineno))
                else:
                    found.append((_kit_target(prefix), alias.name, node.lineno))
    return found


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def notebook_code(path: Path) -> ast.AST:
    """The code cells of a notebook as one module (IPython magics and shell lines dropped)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    lines = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            code = line.lstrip()
            lines.append(line[:len(line) - len(code)] + "pass" if code.startswith(("%", "!")) else line)
        lines.append("")
    return ast.parse("\n".join(lines), filename=str(path))


def lesson_notebooks(lesson) -> list[Path]:
    folders = (ROOT / "notebooks", ROOT / "exercises", ROOT / "exercises" / "solutions")
    return [f / f"{lesson.stem}.ipynb" for f in folders if (f / f"{lesson.stem}.ipynb").exists()]


def test_every_module_is_core_or_owned_by_exactly_one_lesson():
    problems = {m: owner(m) for m in MODULES if owner(m) not in {"core"} | {lesson.number for lesson in LESSONS}}
    assert not problems, f"declare these in kit/lessons.py (CORE_MODULES or a Lesson's modules): {problems}"
    declared = {m for lesson in LESSONS for m in lesson.modules} | set(CORE_MODULES)
    tops = {m.split(".")[0] for m in MODULES}
    assert declared <= tops, f"kit/lessons.py names modules that do not exist: {sorted(declared - tops)}"
    assert not set(CORE_MODULES) & {m for lesson in LESSONS for m in lesson.modules}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_core_and_its_own(module):
    mine = owner(module)
    bad = [f"line {line}: kit.{target}" for target, _, line in kit_imports(parse(MODULES[module]), module)
           if not allowed(mine, target)]
    assert not bad, (f"kit/{MODULES[module].relative_to(KIT)} ({'core' if mine == 'core' else 'lesson ' + mine}) "
                     f"imports another lesson's module: {bad}. Move what both need into a core module.")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.number)
def test_lesson_notebooks_import_only_core_and_their_own(lesson):
    for path in lesson_notebooks(lesson):
        bad = [f"kit.{target}" for target, _, _ in kit_imports(notebook_code(path))
               if not allowed(lesson.number, target)]
        assert not bad, f"{path.relative_to(ROOT)} imports another lesson's module: {bad}"


def _private_uses(tree: ast.AST, here: str) -> list[str]:
    uses, aliases = [], {}
    for target, name, line in kit_imports(tree, here):
        if name and name.startswith("_") and not name.startswith("__") and target != here:
            uses.append(f"line {line}: from kit.{target} import {name}")
    for node in ast.walk(tree):  # `from kit import models` ... `models._x`
        if isinstance(node, ast.ImportFrom) and node.module == "kit":
            for alias in node.names:
                if alias.name in MODULES:
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__") and aliases[node.value.id] != here):
            uses.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return uses


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_from_other_modules(module):
    uses = _private_uses(parse(MODULES[module]), module)
    assert not uses, f"kit/{MODULES[module].relative_to(KIT)} uses another module's private names: {uses}"


def test_no_import_cycles_among_kit_modules():
    graph = {m: {t for t, _, _ in kit_imports(parse(p), m) if t != m} for m, p in MODULES.items()}
    graph["__init__"] = set()  # importing any kit.x runs kit/__init__ first anyway; its imports are lazy
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, set())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles among kit modules: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_all_lists_only_names_the_module_defines(module):
    tree = parse(MODULES[module])
    defined, listed = set(), None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        defined.add(name.id)
                        if name.id == "__all__":
                            listed = ast.literal_eval(node.value)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    if module in ("__main__",) or module.startswith("exercises.ex") or module.startswith("flower_app"):
        return  # scripts and registration modules: nothing to export
    assert listed is not None, f"kit/{MODULES[module].relative_to(KIT)} has no __all__"
    missing = sorted(set(listed) - defined)
    assert not missing, f"kit/{MODULES[module].relative_to(KIT)}: __all__ lists undefined names {missing}"


def test_no_module_level_getattr():
    """A module `__getattr__` hides an import from readers and from the cycle check: import explicitly."""
    found = [m for m, p in MODULES.items()
             if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in parse(p).body)]
    assert not found, f"modules with a module-level __getattr__: {found}"


def test_the_checks_catch_a_breach():
    """Negative control: each check rejects a module written to break it."""
    tree = ast.parse("from kit import finetune\nfrom kit.models import _record_checksums\n"
                     "def __getattr__(name):\n    from kit.lowcode import Panel\n    return models._x\n"
                     "from kit import models\n")
    targets = [t for t, _, _ in kit_imports(tree, "openweights")]
    assert {"finetune", "models", "lowcode"} <= set(targets)
    assert owner("finetune") == "01" and owner("openweights") == "08" and owner("exercises.ex08") == "08"
    assert owner("models") == "core" and owner("flower_app.fedmnist") == "05"
    assert not allowed("08", "finetune") and allowed("12", "finetune") and not allowed("core", "capstone")
    assert len(_private_uses(tree, "openweights")) == 2


def _readme_rows() -> list[tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\| (\d\d) \| \[([^\]]+)\]\(([^)]+)\) \|", text, flags=re.MULTILINE)


def test_readme_lesson_table_is_the_lesson_list():
    rows = _readme_rows()
    want = [(lesson.number, lesson.title, f"notebooks/{lesson.stem}.ipynb") for lesson in LESSONS]
    assert rows == want, ("README.md's lesson table must list every lesson of kit/lessons.py in order, as "
                          "| NN | [title](notebooks/<stem>.ipynb) |; differences: "
                          f"{[(r, w) for r, w in zip(rows, want) if r != w] or (len(rows), len(want))}")


# --- thresholds written once: kit/lessons.py's targets are what the notebook's last cell asserts -------

def _normalise(node: ast.AST, names: dict, last_cell_values: dict) -> ast.AST:
    """Rewrite an expression into the metric vocabulary of kit/lessons.py: profile.pick(..., cpu=v) -> v,
    report.recorded()["m"] / metrics["m"] -> m, a variable that holds a recorded metric -> its name, a name
    the last cell assigned -> its value, and `x - 0.0` -> x."""

    class Rewrite(ast.NodeTransformer):
        def visit_Call(self, call):
            if ast.unparse(call.func) == "profile.pick":
                cpu = [k.value for k in call.keywords if k.arg == "cpu"]
                if cpu:
                    return self.visit(cpu[0])
            return self.generic_visit(call)

        def visit_Subscript(self, sub):
            holder = ast.unparse(sub.value)
            if isinstance(sub.slice, ast.Constant) and (holder == "report.recorded()" or
                                                        last_cell_values.get(holder) == "report.recorded()"):
                return ast.Name(sub.slice.value, ast.Load())
            return self.generic_visit(sub)

        def visit_Name(self, name):
            if name.id in last_cell_values and last_cell_values[name.id] != "report.recorded()":
                return self.visit(ast.parse(last_cell_values[name.id], mode="eval").body)
            return ast.Name(names.get(name.id, name.id), ast.Load())

        def visit_BinOp(self, op):
            op = self.generic_visit(op)
            if isinstance(op.op, (ast.Add, ast.Sub)) and isinstance(op.right, ast.Constant) and op.right.value == 0:
                return op.left
            return op

    return Rewrite().visit(node)


def _recorded_names(tree: ast.AST) -> dict:
    """{variable: metric} from `v = report.record("m", ...)` and `report.record("m", v)`."""
    names = {}
    for node in ast.walk(tree):
        call = node.value if isinstance(node, ast.Assign) else node
        if not (isinstance(call, ast.Call) and ast.unparse(call.func) == "report.record" and call.args
                and isinstance(call.args[0], ast.Constant)):
            continue
        metric = call.args[0].value
        if isinstance(node, ast.Assign):
            names.update({t.id: metric for t in node.targets if isinstance(t, ast.Name)})
        if len(call.args) > 1 and isinstance(call.args[1], ast.Name):
            names[call.args[1].id] = metric
    return names


def asserted_in_last_cell(path: Path) -> set[str]:
    """Every condition the notebook's last code cell asserts, in kit/lessons.py's target vocabulary."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    names = _recorded_names(notebook_code(path))
    last = ast.parse(cells[-1])
    values = {t.id: ast.unparse(node.value) for node in last.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name)}
    found = set()
    for node in ast.walk(last):
        if isinstance(node, ast.Assert):
            parts = node.test.values if isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And) \
                else [node.test]
            found |= {ast.unparse(_normalise(part, names, values)) for part in parts}
    return found


@pytest.mark.parametrize("lesson", [lesson for lesson in LESSONS if lesson.targets], ids=lambda lesson: lesson.number)
def test_each_target_is_what_the_notebook_asserts(lesson):
    """Until targets become claims (report.claim), each threshold is written twice; this keeps them equal."""
    asserted = asserted_in_last_cell(lesson.notebook)
    missing = [t for t in lesson.targets if ast.unparse(ast.parse(t, mode="eval").body) not in asserted]
    assert not missing, (f"kit/lessons.py's targets for lesson {lesson.number} are not what the notebook's last "
                         f"cell asserts (under cpu): {missing}; it asserts {sorted(asserted)}. A lesson whose "
                         "last cell asserts report.claim results instead drops its `targets` from kit/lessons.py.")
