"""The zoo's tasks by name: each owns its data pipeline, loss, exports and scoring (see `zoo.tasks.base`).

    from zoo import tasks
    task = tasks.get("sentiment")
    info, batches = task.batches(loaded, vectorizers, settings)
    task.compile(model, optimizer, settings)

A new task registers itself with `register`, once, when its module is imported.
"""

import datasets.tasks
from zoo.tasks.base import Task
from zoo.tasks.classification import TextClassification
from zoo.tasks.frames import FrameLabelling
from zoo.tasks.language_model import LanguageModelling
from zoo.tasks.translation import Translation

TASKS = {}


def register(task: Task, data: datasets.tasks.Task | None = None) -> Task:
    """Adds `task` (and `data`, its data side, to `datasets.tasks`) under `task.name`; returns `task`."""
    if data is not None:
        if data.name != task.name:
            raise ValueError(f"The data task is called {data.name!r} but the task {task.name!r}: give both one name.")
        datasets.tasks.register(data)
    TASKS[task.name] = task
    return task


def get(task) -> Task:
    """The `Task` called `task` (a `Task` is returned as it is); ValueError listing the tasks otherwise."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}: use one of {', '.join(TASKS)}.")
    return TASKS[task]


for _task in (TextClassification(), FrameLabelling(), Translation(), LanguageModelling()):
    register(_task)

__all__ = ["TASKS", "Task", "get", "register"]
