# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
"""The task-neutral training runtime (strategy, loop, checkpoints, summaries).

`trainer.train` runs any `task.Task` (`tasks.align_task.AlignTask`,
`tasks.classification_task.ClassificationTask`) under the knobs of
`config.TrainConfig`.
"""
