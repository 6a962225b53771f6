"""The edge study behind ``docs/research.md``, run by ``kalshid backtest --study`` / ``--fit-pool`` /
``--score-pool`` (:mod:`kalshid.research.edge.cli`)."""
