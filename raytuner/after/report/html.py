"""One self-contained HTML page: tables plus the PNG figures inlined as base64 data URIs."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from raytuner.text import format_value

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #855; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
"""


def _table(header: list[str], rows: list[list[Any]], table_id: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(c))}</td>" for c in row)
                   + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _leaderboard(report: dict[str, Any]) -> str:
    rows = report["leaderboard"]
    params = sorted({k for r in rows for k in r["config"]})
    metrics = sorted({k for r in rows for k in r["metrics"]})
    header = ["#", "trial", "status", "epochs", "time (s)", f"best {report['metric']}",
              *params, *metrics]
    body = [[r["rank"], r["trial_id"], r["status"], r["epochs"], r["time_s"] or "", r["best"],
             *(r["config"].get(p, "-") for p in params), *(r["metrics"].get(m, "")
                                                           for m in metrics)] for r in rows]
    return _table(header, body, "leaderboard")


def cost_rows(costs: dict[str, Any]) -> list[list[Any]]:
    """The best model's costs as table rows, the latency labelled with where it was timed."""
    device = costs.get("latency_device", "")
    return [[f"{name} ({device})" if name == "latency_ms" and device else name, value]
            for name, value in costs.items() if name != "latency_device"]


def _evaluation(report: dict[str, Any], images: dict[str, Path]) -> str:
    ev = report.get("evaluation")
    if ev is None:
        return f'<p class="note">{html.escape(report.get("evaluation_note") or "")}</p>'
    rows = [[k, ev[k]] for k in ("accuracy", "precision_macro", "recall_macro", "f1_macro",
                                 "roc_auc_ovr", "num_examples")]
    out = (f"<p>Trial {html.escape(ev['trial_id'])}, checkpoint of epoch {ev['epoch']}.</p>"
           + _table(["metric", "value"], rows, "evaluation"))
    if ev.get("costs"):
        out += _table(["cost", "value"], cost_rows(ev["costs"]), "costs")
    if "confusion_matrix" in images:
        out += _image(images["confusion_matrix"], "confusion matrix")
    return out


def _importance(report: dict[str, Any], images: dict[str, Path]) -> str:
    imp = report["importance"]
    out = f"<p>{html.escape(imp['method'])} over {imp['num_trials']} finished trials.</p>"
    if imp["note"]:
        out += f'<p class="note">{html.escape(imp["note"])}</p>'
    if imp["params"]:
        out += _table(["hyperparameter", "importance", "std", "share"],
                      [[r["param"], r["importance"], r["std"], r["share"]]
                       for r in imp["params"]], "importance")
    if "importance" in images:
        out += _image(images["importance"], "importance")
    return out


def _pareto(report: dict[str, Any], images: dict[str, Path]) -> str:
    pareto = report["pareto"]
    names = [o["metric"] for o in pareto["objectives"]]
    wanted = ", ".join(f"{o['metric']} ({o['mode']})" for o in pareto["objectives"])
    values = {t["trial_id"]: t for t in pareto["trials"]}
    reference = ", ".join(f"{n} {format_value(r)}"
                          for n, r in zip(names, pareto["reference"], strict=True))
    out = (f"<p>{len(pareto['front'])} of {len(pareto['trials'])} trials are not beaten in "
           f"every objective at once ({html.escape(wanted)}; final values). Hypervolume "
           f"{format_value(pareto['hypervolume'])}, reference point "
           f"{html.escape(reference)}.</p>"
           + _table(["trial", "status", "epochs", *names],
                    [[i, values[i]["status"], values[i]["epochs"], *values[i]["values"]]
                     for i in pareto["front"]], "pareto"))
    for name in ("pareto_front", "hypervolume"):
        if name in images:
            out += _image(images[name], name.replace("_", " "))
    return out


def _searched_for(report: dict[str, Any]) -> str:
    """"search metric <b>m</b> (max)", or the objectives of a multi-objective run."""
    goals = ([(o["metric"], o["mode"]) for o in report["pareto"]["objectives"]]
             if report.get("pareto") else [(report["metric"], report["mode"])])
    word = "objectives" if len(goals) > 1 else "search metric"
    return f"{word} " + ", ".join(f"<b>{html.escape(m)}</b> ({mode})" for m, mode in goals)


def render_html(report: dict[str, Any], images: dict[str, Path]) -> str:
    """The report page; ``images`` maps figure names to their PNG files."""
    title = f"raytuner report: {report['experiment']}"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["status_counts"].items()))
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Run folder <code>{html.escape(report['run_dir'])}</code>: "
        f"{report['num_trials']} trials ({html.escape(counts)}); {_searched_for(report)}.</p>",
        "<h2>Leaderboard</h2>", _leaderboard(report),
        "<h2>Best trial on the validation set</h2>", _evaluation(report, images),
        "<h2>Hyperparameter importance</h2>", _importance(report, images),
        "<h2>Search</h2>",
    ]
    for name in ("best_so_far", "params", "learning_curves"):
        if name in images:
            parts.append(_image(images[name], name.replace("_", " ")))
    if report.get("pareto"):  # several objectives
        parts += ["<h2>Pareto front</h2>", _pareto(report, images)]
    if "schedule" in images:  # pbt/pb2
        parts += ["<h2>Hyperparameter schedule of the best trial</h2>",
                  "<pre>" + html.escape("\n".join(report.get("schedule") or [])) + "</pre>",
                  _image(images["schedule"], "hyperparameter schedule")]
    repro = report.get("reproducibility")
    parts.append("<h2>Reproducibility</h2>")
    parts.append("<pre>" + html.escape(json.dumps(repro, indent=2, default=str)) + "</pre>"
                 if repro else '<p class="note">no reproducibility.json in this run</p>')
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")
