"""Run a registered task (or the toy one) through the experiment runner, tiny:
``python -m tests.contract_run TASK [runner flags]`` (``--arms`` picks the arms; default
all of the task's). The toy task is registered here, in the test's own code: no platform
file knows it."""

import sys

from hmgray.experiment import Experiment, main
from hmgray.task import get_task, register
from tests.toy_task import ToyTask

register("toy", ToyTask)

if __name__ == "__main__":
    task = get_task(sys.argv[1])
    n = max(120, task.min_synthetic_rows)
    size = dict(n=n, epochs=1, num_samples=1, seeds="1", grace_period=1)
    exp = Experiment(
        task=task.name,
        script="tests/contract_run.py",
        title=f"contract run of {task.name}",
        default=size,
        smoke=size,
    )
    sys.exit(main(exp, sys.argv[2:]))
