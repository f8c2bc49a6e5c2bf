"""``delphi score`` and ``delphi cooke``: the scoring core on CSV files, as a table or JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from app import scoring
from app.scoring.files import InputFileError, parse_range, read_cooke, read_groups, read_ratings, read_weights
from app.serialization import json_safe


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        _fail(f"{path}: no such file")
    except UnicodeDecodeError:
        _fail(f"{path}: not a UTF-8 text file")
    except OSError as exc:
        _fail(f"{path}: {exc.strerror}")
    raise AssertionError("unreachable")


def score_command(
    ratings: Annotated[Path, typer.Argument(help="Long CSV: expert,item,value[,round]; a blank value is missing.")],
    scale: Annotated[str, typer.Option(help="Scale points, e.g. 1-9.")] = "1-9",
    agree: Annotated[str, typer.Option(help="Agreement band, e.g. 7-9.")] = "7-9",
    quantile_method: Annotated[
        str, typer.Option(help="numpy quantile method (linear = R type 7, weibull = SPSS).")
    ] = "linear",
    weights: Annotated[
        Path | None, typer.Option(help="CSV expert,weight (reliability weights: only their ratios matter).")
    ] = None,
    groups: Annotated[
        Path | None, typer.Option(help="CSV expert,group: figures per stakeholder group, and min_group() in --rule.")
    ] = None,
    rule: Annotated[
        str | None,
        typer.Option(help="A consensus rule, e.g. 'min_group(agreement) >= 0.7': each item's consensus, per round."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per-item statistics, panel agreement and stability between rounds of a ratings file."""
    try:
        scale_range = parse_range(scale, "--scale")
        agree_range = parse_range(agree, "--agree", single_point=True)
        if not (scale_range[0] <= agree_range[0] and agree_range[1] <= scale_range[1]):
            raise ValueError(f"--agree {agree} must lie inside --scale {scale}")
        if quantile_method not in scoring.QUANTILE_METHODS:
            raise ValueError(f"--quantile-method must be one of {', '.join(scoring.QUANTILE_METHODS)}")
        parsed_rule = scoring.parse_consensus_rule(rule) if rule is not None else None
        table = read_ratings(_read_text(ratings), scale_range, str(ratings))
        w = read_weights(_read_text(weights), table.experts, str(weights)) if weights else None
        labels = read_groups(_read_text(groups), table.experts, str(groups)) if groups else None
    except (InputFileError, ValueError) as exc:
        _fail(str(exc))
    result = score_table(table, scale_range, agree_range, quantile_method, w, labels, parsed_rule)
    if as_json:
        typer.echo(json.dumps(json_safe(result), ensure_ascii=False, indent=2))
    else:
        typer.echo(_format_score_table(result, table.has_round_column))


def score_table(
    table: Any,
    scale: tuple[int, int],
    agree: tuple[int, int],
    method: str,
    weights: np.ndarray | None,
    groups: tuple[str, ...] | None = None,
    rule: Any = None,
) -> dict[str, Any]:
    """The figures of a ratings table; with ``groups`` (one label per expert) the same per group;
    with a consensus ``rule``, each item's consensus (``round`` is the round column's number, or 1)."""
    items: list[dict[str, Any]] = []
    by_group: list[dict[str, Any]] = []
    labels = np.array(groups) if groups is not None else None
    for number in table.rounds:
        matrix = table.matrices[number]
        summary = scoring.summarize(matrix, scale=scale, agree=agree, weights=weights, quantile_method=method)
        group_summaries = {
            str(g): scoring.summarize(
                matrix[labels == g],
                scale=scale,
                agree=agree,
                weights=weights[labels == g] if weights is not None else None,
                quantile_method=method,
            )
            for g in (sorted(set(labels.tolist())) if labels is not None else [])
        }
        verdicts = (
            scoring.consensus(rule, summary, groups=group_summaries or None, round_number=number)
            if rule is not None
            else None
        )
        for j, record in enumerate(summary.records(list(table.items))):
            record.pop("distribution")
            if verdicts is not None:
                record["consensus"] = bool(verdicts[j] and summary.n[j] > 0)
            if table.has_round_column:
                record = {"item": record["item"], "round": number, **{k: v for k, v in record.items() if k != "item"}}
            items.append(record)
        for group, group_summary in group_summaries.items():
            for record in group_summary.records(list(table.items)):
                record.pop("distribution")
                head = {"group": group, "item": record.pop("item")} | (
                    {"round": number} if table.has_round_column else {}
                )
                by_group.append(head | record)
    last = table.matrices[table.rounds[-1]]
    panel = scoring.panel_agreement(last, scale).as_dict()
    panel["apmo"] = scoring.apmo(
        scoring.summarize(last, scale=scale, agree=agree, weights=weights, quantile_method=method)
    )
    stability = []
    for earlier, later in zip(table.rounds, table.rounds[1:], strict=False):
        s = scoring.stability(table.matrices[earlier], table.matrices[later])
        shifts = scoring.agreement_shift(table.matrices[earlier], table.matrices[later], agree)
        for j, item in enumerate(table.items):
            stability.append(
                {
                    "item": item,
                    "from_round": earlier,
                    "to_round": later,
                    "n_paired": int(s.n_paired[j]),
                    "wilcoxon_p": float(s.wilcoxon_p[j]),
                    "wilcoxon_method": s.wilcoxon_method[j] or None,
                    "cv_change": float(s.cv_change[j]),
                    "pct_change": float(s.pct_change[j]),
                    "unchanged": bool(s.unchanged[j]),
                    "agreement_mcnemar_p": float(shifts[j].p),
                    "agreement_mcnemar_method": shifts[j].method or None,
                }
            )
    return {
        "scale": list(scale),
        "agree": list(agree),
        "quantile_method": method if weights is None else "inverted_cdf",
        "weighted": weights is not None,
        "items": items,
        **({"groups": by_group} if groups is not None else {}),
        **({"rule": rule.source} if rule is not None else {}),
        "panel": panel,
        "stability": stability,
        "wilcoxon": {"zeros": scoring.WILCOXON_ZEROS, "exact_up_to": scoring.WILCOXON_EXACT_UP_TO},
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _format_score_table(result: dict[str, Any], with_round: bool) -> str:
    columns = (["round"] if with_round else []) + [
        "n",
        "median",
        "q1",
        "q3",
        "iqr",
        "mean",
        "sd",
        "cv",
        "agreement",
        "opposition",
        "rwg",
        "di",
    ]
    items = json_safe(result["items"])
    if "rule" in result:
        columns.append("consensus")
    width = max([4] + [len(str(r["item"])) for r in items])
    lines = [f"{'item':<{width}}  " + "  ".join(f"{c:>9}" for c in columns)]
    for record in items:
        lines.append(f"{record['item']:<{width}}  " + "  ".join(f"{_fmt(record[c]):>9}" for c in columns))
    if "rule" in result:
        lines.append(f"consensus rule: {result['rule']}")
    if "groups" in result:
        group_columns = (["round"] if with_round else []) + ["n", "median", "iqr", "agreement", "opposition", "cns"]
        group_width = max([5] + [len(str(r["group"])) for r in result["groups"]])
        lines.append("")
        lines.append(f"{'group':<{group_width}}  {'item':<{width}}  " + "  ".join(f"{c:>9}" for c in group_columns))
        for record in json_safe(result["groups"]):
            lines.append(
                f"{record['group']:<{group_width}}  {record['item']:<{width}}  "
                + "  ".join(f"{_fmt(record[c]):>9}" for c in group_columns)
            )
    panel = json_safe(result["panel"])
    lines.append("")
    lines.append(
        f"Kendall's W {_fmt(panel['kendall_w'], 3)} (uncorrected {_fmt(panel['kendall_w_uncorrected'], 3)}, "
        f"chi2 {_fmt(panel['kendall_chi2'])}, df {panel['kendall_df']}, p {_fmt(panel['kendall_p'], 4)}); "
        f"Fleiss' kappa {_fmt(panel['fleiss_kappa'], 3)}; Krippendorff's alpha nominal "
        f"{_fmt(panel['krippendorff_alpha_nominal'], 3)}, ordinal {_fmt(panel['krippendorff_alpha_ordinal'], 3)}, "
        f"interval {_fmt(panel['krippendorff_alpha_interval'], 3)}"
    )
    if result["stability"]:
        lines.append("")
        lines.append(
            f"{'item':<{width}}  {'rounds':>7}  {'paired':>6}  {'wilcoxon p':>10}  {'cv change':>9}  {'% change':>8}"
        )
        for s in json_safe(result["stability"]):
            lines.append(
                f"{s['item']:<{width}}  {str(s['from_round']) + '->' + str(s['to_round']):>7}  "
                f"{s['n_paired']:>6}  {_fmt(s['wilcoxon_p'], 4):>10}  {_fmt(s['cv_change'], 3):>9}  "
                f"{_fmt(s['pct_change'], 1):>8}"
            )
    return "\n".join(lines)


def cooke_command(
    assessments: Annotated[Path, typer.Argument(help="CSV expertid,itemid,<quantile columns> (Anduryl format).")],
    items: Annotated[Path, typer.Argument(help="CSV itemid,realization,scale,question (Anduryl format).")],
    overshoot: Annotated[float, typer.Option(help="Widening of the intrinsic range on each side.")] = 0.1,
    alpha: Annotated[float | None, typer.Option(help="Calibration cut-off: experts below it get weight 0.")] = None,
    optimise_alpha: Annotated[
        bool, typer.Option("--optimise-alpha", help="Choose the alpha that maximises the decision maker's score.")
    ] = False,
    weighting: Annotated[
        str, typer.Option(help="The decision maker's weights: global, item (per item) or equal.")
    ] = "global",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Cooke's classical model: calibration, information and performance weights of experts."""
    if alpha is not None and optimise_alpha:
        _fail("give either --alpha or --optimise-alpha, not both")
    if not overshoot > 0:
        _fail("--overshoot must be > 0 (0 puts the extreme quantiles on the range's edge)")
    if alpha is not None and not 0 <= alpha <= 1:
        _fail("--alpha must be between 0 and 1")
    if weighting not in ("global", "item", "equal"):
        _fail("--weighting must be global, item or equal")
    try:
        data = read_cooke(_read_text(assessments), _read_text(items), str(assessments), str(items))
        result = scoring.classical_model(
            data, alpha=alpha or 0.0, optimise_alpha=optimise_alpha, overshoot=overshoot, weighting=weighting
        )
    except (InputFileError, ValueError) as exc:
        _fail(str(exc))
    dm = result.decision_maker
    seeds = (data.answered & data.seed[None, :]).sum(axis=1)
    payload = {
        "alpha": result.alpha,
        "overshoot": result.overshoot,
        "weighting": result.weighting,
        "left_out": list(result.left_out),
        # each expert's scores and how many seed items they answered (calibration's N is the fewest)
        "experts": [{**e.__dict__, "seeds_answered": int(seeds[k])} for k, e in enumerate(result.experts)],
        "decision_maker": {
            "calibration": dm.calibration,
            "information_all": dm.information_all,
            "information_seed": dm.information_seed,
            "combined": dm.combined,
            # the pooled answer to each item, at the quantiles the item asks
            "quantiles": {
                item: {
                    f"{level:g}": float(value)
                    for level, value in zip(data.quantiles, row, strict=True)
                    if value == value
                }
                for item, row in zip(data.items, dm.quantiles, strict=True)
            },
        },
    }
    if result.item_weights is not None:
        payload["item_weights"] = {
            item: dict(zip(data.experts, result.item_weights[:, k].tolist(), strict=True))
            for k, item in enumerate(data.items)
        }
    if as_json:
        typer.echo(json.dumps(json_safe(payload), indent=2))
        return
    lines = [
        f"alpha {result.alpha:.4g}  (overshoot {result.overshoot:g}, {result.weighting} weights)",
        f"{'expert':<12} {'calibration':>12} {'info all':>9} {'info seed':>9} {'combined':>9} {'weight':>8}"
        f" {'seeds':>6}",
    ]
    for k, e in enumerate(result.experts):
        lines.append(
            f"{e.expert:<12} {e.calibration:>12.4g} {e.information_all:>9.4f} {e.information_seed:>9.4f} "
            f"{e.combined:>9.4f} {e.weight:>8.4f} {int(seeds[k]):>3}/{int(data.seed.sum())}"
        )
    lines.append(
        f"{'DM':<12} {dm.calibration:>12.4g} {dm.information_all:>9.4f} {dm.information_seed:>9.4f} {dm.combined:>9.4f}"
    )
    targets = [k for k, seed in enumerate(data.seed) if not seed]
    if targets:
        lines.append("decision maker's answers to the target items:")
        lines.extend(
            f"  {data.items[k]:<12} "
            + "  ".join(
                f"{level:g}: {value:.4g}"
                for level, value in zip(data.quantiles, dm.quantiles[k], strict=True)
                if value == value
            )
            for k in targets
        )
    if result.item_weights is not None:
        lines.append("weight: global weights; the decision maker pooled item weights (--json lists them)")
    if result.left_out:
        lines.append(f"left out of calibration (no seed answer): {', '.join(result.left_out)}")
    typer.echo("\n".join(lines))
