"""Gate evidence: bind gates to tests, run or ingest them, derive status, write and verify evidence.

One job per module:

* ``plugin``      the pytest plugin (light: nothing heavy at import, inert without its options)
* ``results``     what a pytest session said about each node id, and the outcome that follows
* ``ingest``      the same from a pytest report log (JSONL) or JUnit XML, without re-running
* ``binding``     gates -> test references -> node ids; the ``discharges`` marker cross-check
* ``runner``      one pytest session in a subprocess running exactly the bound tests
* ``falsify``     Hypothesis profiles and per-falsifier statistics
* ``mutants``     mutants of an invariant's expressions (generating and applying them)
* ``mutation``    running a plan of mutants inside the pytest session (the plugin calls it)
* ``mutation_plan`` which mutants run against which gate's tests, and a gate's mutation record
* ``assertions``  PV310: a test a gate rests on that contains no assertion at all (static, ``ast``)
* ``subset``      ``pv check PATHS``: the gates of the contracts beside the checked ones
* ``status``      a test's outcome and a gate's status, derived, never declared
* ``fingerprint`` digests of contracts, invariants, gates, falsifiers and test files
* ``sources``     the conftests and repository modules a test imports (gate inputs), found statically
* ``provenance``  tool, git commit and environment
* ``evidence``    the deterministic evidence document, its digests, in-toto statement, DSSE, atomic write
* ``safefile``    reading the files an evidence document names: regular, inside the repository, bounded
* ``dsse``        DSSE envelopes (encoding, PAE); ``signing`` signs and verifies them with ``cryptography``
* ``ledger``      reading a training run's ledger strictly, run by run; ``runtime`` judges it
* ``verify``      ``pv verify``: valid, stale, inconsistent or tampered, per gate
* ``check``       ``pv check`` and ``pv falsify`` as library calls
* ``render``      terminal text for the three verbs
* ``report``      ``pv report`` (HTML and Markdown for auditors) and ``pv status`` (the gate table)

Arrows point one way: this package uses ``pvcontracts.contract`` and ``pvcontracts.validate``;
nothing there uses it.
"""
