"""The load engine: an extract's rows read, decided and applied to the index in batches.

- `run`: a load's run over its batches (begin_load, run_load), resuming after its last
  committed row; the one choice between a load and a dry run (`run.effects_for`).
- `batch`: one batch, its rows matched together, then each decided and applied in file order.
- `effects`: what a batch does with what it decided, behind one object: `Written` (a load writes
  it to the index) or `dry_run.Predicted` (a dry run carries it to the next batch, writing nothing).
- `dry_run`: what a dry run carries from batch to batch, in memory and in a scratch file.
- `report_rows`: each row's outcome, written with its batch; `tally`: the load's running totals.
"""
