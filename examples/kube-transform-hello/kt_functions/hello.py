"""Task functions of the kube-transform-hello example."""

import logging

from kube_transform import fsutil as fs

from .greeting import greet

log = logging.getLogger(__name__)


def plan(input_dir, output_dir):
    """Returns one static job with a task per file of ``input_dir``."""
    names = fs.listdir(input_dir)
    log.info("planning %d files", len(names))
    return [
        {
            "name": "greet",
            "type": "static",
            "memory": "256Mi",
            "tasks": [
                {
                    "function": "hello.greet_file",
                    "args": {
                        "source": fs.join(input_dir, name),
                        "target": fs.join(output_dir, name),
                    },
                }
                for name in names
            ],
        }
    ]


def greet_file(source, target):
    """Writes ``target``: the lines of ``source``, each greeted."""
    text = fs.read(source)
    fs.write(target, greet(text))
    print(f"greeted {source} into {target}")
