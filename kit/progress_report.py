"""A learner's completion report: one self-contained HTML file that opens in any browser, offline.

    python -m kit progress --report              # writes build/progress-report.html
    python -m kit progress --report ~/me.html    # or anywhere else

It gathers three things that already live on the learner's machine and never leave it:
the exercises passed (`kit.exercises.progress()`), the quiz scores (`kit.quiz.results()`), and the
claims each lesson reproduced here with the learner's own numbers (`build/results/<stem>.json`, written by
`python -m kit run`). The page has no scripts, no external style sheets, fonts or images, and every
value taken from a file is HTML-escaped.
"""
import html
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kit import exercises, lessons, quiz
from kit.errors import KitError
from kit.paths import BUILD, write_text_atomic

__all__ = ["LessonReport", "collect", "render", "write", "DEFAULT_PATH"]

DEFAULT_PATH = BUILD / "progress-report.html"


@dataclass
class LessonReport:
    """Everything the report shows about one lesson (plain data, so a test or a notebook can inspect it)."""
    number: str
    title: str
    exercises: list = field(default_factory=list)   # [(id, title, passed)]
    quiz_total: int = 0
    quiz_answered: int = 0
    quiz_correct: int = 0
    results: dict | None = None                     # the lesson's build/results JSON, when it is there
    results_problem: str = ""                        # why a results file present could not be read

    @property
    def exercises_passed(self) -> int:
        return sum(1 for _, _, passed in self.exercises if passed)

    @property
    def claims(self) -> list:
        return list((self.results or {}).get("claims") or [])


def _read_results(path: Path) -> tuple[dict | None, str]:
    """A lesson's results JSON, or (None, why) when it is damaged; (None, "") when there is none."""
    if not path.exists():
        return None, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return None, f"{path.name} could not be read ({error}); run python -m kit run again to rewrite it"
    if not isinstance(data, dict) or not isinstance(data.get("claims", []), list):
        return None, f"{path.name} is not a results file of python -m kit run; run it again to rewrite it"
    data["claims"] = [c for c in data.get("claims", []) if isinstance(c, dict) and "name" in c]
    return data, ""


def _lesson_questions(number: str) -> list:
    try:
        return quiz.questions(number)
    except (KitError, ValueError):   # a lesson without an exercise module has no quiz yet
        return []


def collect(results_dir: Path | None = None) -> list[LessonReport]:
    """One LessonReport per lesson, from the progress file, the quiz file and `results_dir` (build/results/)."""
    results_dir = Path(results_dir) if results_dir else BUILD / "results"
    passed = exercises.progress()
    titles = {k: v.title for k, v in exercises.registered().items()}
    answers = quiz.results()
    reports = []
    for lesson in lessons.LESSONS:
        report = LessonReport(lesson.number, lesson.title)
        report.exercises = [(k, titles.get(k, ""), ok) for k, ok in sorted(passed.items())
                            if k.split(".")[0] == lesson.number]
        asked = _lesson_questions(lesson.number)
        report.quiz_total = len(asked)
        for question in asked:
            entry = answers.get(question.id)
            if isinstance(entry, dict):
                report.quiz_answered += 1
                report.quiz_correct += bool(entry.get("correct"))
        report.results, report.results_problem = _read_results(results_dir / f"{lesson.stem}.json")
        reports.append(report)
    return reports


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1f2328;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;
text-align:left;vertical-align:top;font-size:.92rem}th{background:#f6f8fa}
.ok{color:#1a7f37;font-weight:600}.no{color:#b35900;font-weight:600}.muted{color:#656d76}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.summary{display:flex;gap:1rem;flex-wrap:wrap}
.summary div{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem}
.summary b{font-size:1.4rem;display:block}
@media print{body{margin:0}}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _number(value) -> str:
    try:
        return f"{float(value):+.3g}"
    except (TypeError, ValueError):
        return _e(value)


def _mark(ok) -> str:
    if ok is None:
        return "<span class='muted'>not checked</span>"
    return "<span class='ok'>✓</span>" if ok else "<span class='no'>✗</span>"


def _claims_table(report: LessonReport) -> str:
    results = report.results
    if report.results_problem:
        return f"<p class='no'>{_e(report.results_problem)}</p>"
    if results is None:
        return (f"<p class='muted'>Not run on this machine yet: <code>python -m kit run {_e(report.number)}"
                "</code> records the lesson's claims with your numbers.</p>")
    wall, rss = results.get("wall_s"), results.get("peak_rss_mb")
    status = "" if results.get("ok", True) else \
        f" <span class='no'>The run failed: {_e(results.get('error') or 'see build/executed/')}</span>"
    head = (f"<p>Run under the <b>{_e(results.get('profile', '?'))}</b> profile"
            + (f" in {float(wall):.0f} s" if isinstance(wall, (int, float)) else "")
            + (f", peak memory {float(rss):.0f} MB" if isinstance(rss, (int, float)) else "")
            + (". The smoke profile only checks that the lesson runs: its numbers are not the lesson's result."
               if results.get("profile") == "smoke" else ".") + status + "</p>")
    if not report.claims:
        return head + "<p class='muted'>No claims recorded in this run.</p>"
    rows = []
    for c in report.claims:
        ci = c.get("ci") or (None, None)
        ci_text = f"[{_number(ci[0])}, {_number(ci[1])}]" if len(ci) == 2 else _e(ci)
        control = _e(c.get("negative_control") or "none")
        rejected = _mark(c.get("control_rejected")) if c.get("negative_control") else ""
        rows.append(f"<tr><td>{_mark(bool(c.get('holds')))}</td><td>{_e(c['name'])}</td>"
                    f"<td class='num'>{_number(c.get('effect'))}</td><td class='num'>{ci_text}</td>"
                    f"<td>{_e(c.get('baseline', ''))}</td><td>{control} {rejected}</td></tr>")
    return head + ("<table><tr><th>holds</th><th>claim</th><th>effect</th><th>95% CI</th><th>baseline</th>"
                   "<th>negative control (rejected?)</th></tr>" + "".join(rows) + "</table>")


def _lesson_section(report: LessonReport) -> str:
    parts = [f"<h2 id='lesson-{_e(report.number)}'>{_e(report.number)} · {_e(report.title)}</h2>"]
    if report.exercises:
        items = "".join(f"<tr><td>{_mark(True) if ok else '<span class=muted>not yet</span>'}</td><td>{_e(k)}</td>"
                        f"<td>{_e(title)}</td></tr>"
                        for k, title, ok in report.exercises)
        parts.append(f"<p>Exercises: <b>{report.exercises_passed} of {len(report.exercises)}</b> passed.</p>"
                     f"<table><tr><th></th><th>exercise</th><th>title</th></tr>{items}</table>")
    else:
        parts.append("<p class='muted'>This lesson has no auto-checked exercises.</p>")
    if report.quiz_total:
        parts.append(f"<p>Quiz: <b>{report.quiz_correct} of {report.quiz_total}</b> right"
                     f" ({report.quiz_answered} answered).</p>")
    parts.append(_claims_table(report))
    return "\n".join(parts)


def render(reports: list[LessonReport]) -> str:
    """The report as one HTML page (inline CSS, no scripts, nothing fetched from the network)."""
    n_ex = sum(len(r.exercises) for r in reports)
    n_passed = sum(r.exercises_passed for r in reports)
    n_quiz = sum(r.quiz_total for r in reports)
    n_right = sum(r.quiz_correct for r in reports)
    claims = [c for r in reports for c in r.claims]
    held = sum(1 for c in claims if c.get("holds"))
    ran = sum(1 for r in reports if r.results is not None)
    machine = f"{platform.system()} {platform.machine()}, Python {sys.version.split()[0]}"
    title = "ML Training Trends Kit: completion report"
    summary = (f"<div><b>{n_passed} / {n_ex}</b>exercises passed</div>"
               f"<div><b>{n_right} / {n_quiz}</b>quiz questions right</div>"
               f"<div><b>{held} / {len(claims)}</b>claims reproduced</div>"
               f"<div><b>{ran} / {len(reports)}</b>lessons run here</div>")
    body = "\n".join(_lesson_section(r) for r in reports)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{_e(title)}</h1>\n<p class='muted'>Written {_e(time.strftime('%Y-%m-%d %H:%M'))} on "
            f"{_e(machine)}, from the local progress and quiz files and build/results/. A claim is reproduced "
            "when its whole 95% interval is above 0 and its negative control was rejected, on this machine."
            f"</p>\n<div class='summary'>{summary}</div>\n{body}\n</body></html>\n")


def write(path: Path | None = None, results_dir: Path | None = None) -> Path:
    """Build the report and write it atomically (a browser never opens half a page); returns its path."""
    path = Path(path) if path else DEFAULT_PATH
    page = render(collect(results_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page)
    return path
