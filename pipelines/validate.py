"""Stage validate: the Great Expectations data contract and the EDA that picks preprocessing
(tsforge.stages.validate)."""

from tsforge import stage
from tsforge.catalog import IngestSummary, load_frame, write_json
from tsforge.config import load_params
from tsforge.console import paths, say
from tsforge.eda import advice_tags, explore
from tsforge.stages import validate

PROJECT = stage.project(__file__)


def main() -> None:
    params = load_params(PROJECT.params)
    frame, meta = load_frame(PROJECT.raw_series), IngestSummary.load(PROJECT.raw_meta)
    checked = validate.check(frame, params, meta, docs=PROJECT.data_docs)
    found = explore(frame, params)
    write_json(PROJECT.validation, checked.report())
    write_json(PROJECT.eda, found.report)
    figures = validate.plot(PROJECT.eda_figures, frame, params.data, found)

    stage.start_tracking(PROJECT, params.tracking.experiment)
    with stage.tracked_run(PROJECT, "validate", {"raw": PROJECT.raw_series}, advice_tags(found.advice)):
        reports = [PROJECT.validation, PROJECT.eda]
        validate.log(len(frame), found, reports, figures, PROJECT.data_docs)
    advice = found.report["recommendation"]
    trend = "a trend" if advice.get("difference") else "no trend"
    say(
        f"data contract: {len(checked.checks)} checks passed -> {paths(PROJECT.root, PROJECT.validation)}",
        f"EDA: season period {found.period}, {trend} (ADF p {found.adf_p_value:.3g}); recommends "
        f"{advice['scaler']} scaling, transform {advice['transform']} -> {paths(PROJECT.root, PROJECT.eda)}",
    )


if __name__ == "__main__":
    stage.run(main)
