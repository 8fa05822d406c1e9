"""The pandas-etl example's task functions: plan, clean (one task per file), summarize."""

import pandas as pd
from kube_transform import fsutil as fs

INPUTS = (".csv", ".parquet")


def plan(input_dir, output_dir, memory=None):
    """One static job with a task per CSV or parquet file of the input folder.

    `memory`, when given, is the returned job's `memory` (a quantity such as "256Mi");
    without it the job has the default.
    """
    names = sorted(n for n in fs.listdir(input_dir) if n.endswith(INPUTS))
    return [
        {
            "name": "clean",
            "type": "static",
            **({"memory": memory} if memory else {}),
            "tasks": [
                {
                    "function": "etl.clean",
                    "args": {
                        "source": fs.join(input_dir, name),
                        "target": fs.join(output_dir, name.rsplit(".", 1)[0] + ".parquet"),
                    },
                }
                for name in names
            ],
        }
    ]


def read_table(path):
    """A CSV or parquet file of the data dir as a DataFrame."""
    if path.endswith(".parquet"):
        with fs.open(path, "rb") as f:
            return pd.read_parquet(f)
    with fs.open(path, "r") as f:
        return pd.read_csv(f)


def clean(source, target):
    """Drops rows without an amount, tidies the region names, adds the amount in cents."""
    df = read_table(source)
    before = len(df)
    df = df.dropna(subset=["amount"])
    df["region"] = df["region"].str.strip().str.lower()
    df["cents"] = (df["amount"] * 100).round().astype("int64")
    with fs.open(target, "wb") as f:
        df.to_parquet(f, index=False)
    print(f"{source}: kept {len(df)} of {before} rows")


def summarize(cleaned_dir, output):
    """Orders, total amount and mean amount per region, over every cleaned file."""
    frames = [read_table(fs.join(cleaned_dir, n)) for n in sorted(fs.listdir(cleaned_dir))]
    df = pd.concat(frames, ignore_index=True)
    summary = (
        df.groupby("region")
        .agg(orders=("order_id", "count"), total_cents=("cents", "sum"))
        .reset_index()
        .sort_values("region")
    )
    with fs.open(output, "w") as f:
        summary.to_csv(f, index=False)
    print(summary.to_string(index=False))
