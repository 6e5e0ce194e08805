"""Bulk mastering: many mixes against references analysed once, on local processes or Dask.

    jobs      what a worker is sent (a :class:`~matcher.batch.jobs.Recipe` shared by the
              batch, a :class:`~matcher.batch.jobs.BatchJob` per mix) and what it sends back
              (a :class:`~matcher.batch.jobs.JobResult`); :func:`~matcher.batch.jobs.master_one`
    recipe    the references analysed once, and the fingerprint of the job
    manifest  ``manifest.json`` and ``manifest.csv`` in the output folder, and resuming
    runner    the local process pool and the Dask client

Nothing here prints: the command line (:mod:`matcher.cli.batch`) does.
"""
