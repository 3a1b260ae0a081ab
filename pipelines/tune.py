"""Stage tune: keras-tuner search; one MLflow parent run, one child run per trial."""

import json

import mlflow
import pandas as pd

from tsforge import stage, tracking, tuning
from tsforge.config import load_params
from tsforge.training import set_seeds


def main() -> None:
    params = load_params(stage.PARAMS)
    cfg = params.tune
    data = stage.load_windowed()
    stage.start_tracking(params.tracking.experiment)
    tags = tracking.lineage_tags(
        stage.ROOT, {"series": stage.PROCESSED, "windows": stage.WINDOWS}, stage.PARAMS
    )
    size = tuning.space_size(cfg.space)
    set_seeds(cfg.seed)
    with mlflow.start_run(run_name=f"tune-{cfg.strategy}") as parent:
        mlflow.set_tags({**tags, "stage": "tune"})
        mlflow.log_params(
            {
                "strategy": cfg.strategy,
                "max_epochs": cfg.max_epochs,
                "max_trials": cfg.max_trials,
                "space": json.dumps(dict(cfg.space)),
                "space_discrete_combinations": size["discrete_combinations"],
                "space_continuous": ",".join(size["continuous"]) or "none",
            }
        )
        hypermodel = tuning.ForecastHyperModel(data, cfg.space, cfg.seed)
        tuner = tuning.make_tuner(
            cfg, hypermodel, stage.TUNER_DIR, parent_run_id=parent.info.run_id, tags=tags
        )
        tuning.search(tuner, cfg.max_epochs, cfg.patience)
        best_trial = tuner.oracle.get_best_trials(1)[0]
        table = pd.DataFrame(tuning.trials_table(tuner))
        table_path = stage.REPORTS / "tuning_trials.csv"
        table.to_csv(table_path, index=False)
        mlflow.log_artifact(str(table_path))
        mlflow.log_params({f"best.{k}": v for k, v in best_trial.hyperparameters.values.items()})
        mlflow.log_metrics({"best_val_loss": float(best_trial.score), "trials": len(table)})
        tuning.tag_best_trial(parent.info.run_id, best_trial.trial_id)
        stage.write_json(
            stage.BEST_HPARAMS,
            {
                "trial_id": best_trial.trial_id,
                "score": best_trial.score,
                "values": best_trial.hyperparameters.values,
                "config": best_trial.hyperparameters.get_config(),
                "tuning_run_id": parent.info.run_id,
            },
        )
        stage.write_json(
            stage.REPORTS / "tuning.json",
            {
                "trials": len(table),
                "best_val_loss": best_trial.score,
                "space": size,
                "strategy": cfg.strategy,
            },
        )


if __name__ == "__main__":
    stage.run(main)
