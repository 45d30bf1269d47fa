"""Stage train: fit the model on the scaled train split, validating on val every epoch.

Writes models/model.pt (state_dict + config), metrics/history.csv and metrics/train.json
(stages.training). With train.world_size > 1, or under torchrun, stages.distributed runs the
ranks instead. torch is imported inside main: train.numerics must be applied before it loads.
"""

import logging
import os
import time

from stages import numerics, params
from stages.errors import run

log = logging.getLogger("train")


def main() -> None:
    p = params.load("train")
    numerics.apply(p.numerics)
    if p.world_size > 1 or os.environ.get("TORCHELASTIC_RUN_ID"):  # distributed.WORKER_VARIABLE
        from stages import distributed  # loads torch

        distributed.main(p)
        return
    from stages import engine, training

    numerics.set_threads(p.numerics, p.threads)

    device = engine.resolve_device(p.device)
    log.info("device %s", device)
    started = time.perf_counter()
    model, result, config, metric = training.train(p, device)
    log.info(
        "%d epochs in %.2f s; kept epoch %d",
        len(result.history),
        time.perf_counter() - started,
        result.best_epoch,
    )
    training.write_outputs(model, result, config, metric)


if __name__ == "__main__":
    run(main)
