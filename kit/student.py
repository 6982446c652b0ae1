"""Student copies of the exercise notebooks, generated from the solved ones.

In `exercises/solutions/NN_*.ipynb`, a code cell tagged `solution` holds the answer. The student
copy keeps each function's signature and docstring with a `# TODO` body that raises
`NotImplementedError`, and turns `name = value` answers into `name = ...  # TODO`; everything
else in the cell is dropped. The checker then reports "not done yet" for every untouched task.

A copy that differs from a fresh one (a learner's answers) is kept, with a message, unless
`force=True` (`kit student --force`), which overwrites it and keeps the old one as `NAME.bak-<time>`.
"""
import ast
import copy
import shutil
import time
from pathlib import Path

from kit.paths import BUILD, ROOT, write_text_atomic

__all__ = ["SOLUTIONS", "stub_source", "student_notebook", "build", "sync_exercises"]

SOLUTIONS = ROOT / "exercises" / "solutions"
TAG = "solution"


def stub_source(source: str) -> str:
    """The student version of one solution cell's code."""
    tree = ast.parse(source)
    lines, out = source.splitlines(), []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            head_end = node.body[0].lineno - 1
            doc = ast.get_docstring(node)
            indent = " " * node.body[0].col_offset
            head = lines[node.lineno - 1 - len(node.decorator_list):head_end]
            if doc is not None:
                head += lines[node.body[0].lineno - 1:node.body[0].end_lineno]
            out += head + [f"{indent}# TODO: your code here", f"{indent}raise NotImplementedError", ""]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, (ast.Tuple, ast.List)):  # a, b = ... would fail to unpack one Ellipsis
                names = ", ".join(ast.unparse(t) for t in target.elts)
                blanks = ", ".join(["..."] * len(target.elts))
                out.append(f"{names} = {blanks}  # TODO: replace each ... with your answer")
            else:
                out.append(f"{ast.unparse(target)} = ...  # TODO: replace ... with your answer")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(ast.get_source_segment(source, node))
    return "\n".join(out).rstrip() + "\n"


def student_notebook(nb):
    """A copy of a solved notebook (nbformat node) with every `solution` cell stubbed out."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and TAG in cell.metadata.get("tags", []):
            cell.source = stub_source(cell.source)
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != TAG] + ["exercise"]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _sources(nb) -> list:
    return [(c.cell_type, c.source) for c in nb.cells]


def build(out_dir: Path = BUILD / "student", force: bool = False) -> list[Path]:
    """Write a student copy of every solved exercise notebook into `out_dir` (build/student/); returns what
    was written. A copy whose cells differ from a fresh one is a learner's work: kept unless `force`."""
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for solved in sorted(SOLUTIONS.glob("*.ipynb")):
        target = out_dir / solved.name
        fresh = student_notebook(nbformat.read(solved, as_version=4))
        if target.exists():
            try:
                edited = _sources(nbformat.read(target, as_version=4)) != _sources(fresh)
            except Exception:  # an unreadable notebook is still the learner's file: keep it too
                edited = True
            if edited and not force:
                print(f"kept {target}: it differs from a fresh copy (your answers?). "
                      "To replace it, run: kit student --force (the old copy is kept as a backup)")
                continue
            if edited:
                backup = target.with_name(f"{target.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
                shutil.copy2(target, backup)
                print(f"backed up {target} as {backup}")
        text = nbformat.writes(fresh)
        write_text_atomic(target, text if text.endswith("\n") else text + "\n")
        written.append(target)
    return written


def sync_exercises(force: bool = False) -> list[Path]:
    """Regenerate the committed `exercises/NN_*.ipynb` from the solutions (never edit those by hand);
    a solution changed on purpose needs `force=True` (`kit student --sync --force`)."""
    return build(ROOT / "exercises", force=force)
