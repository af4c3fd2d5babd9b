"""Gate evidence: bind gates to tests, run or ingest them, derive status, write and verify evidence.

One job per module:

* ``plugin``      the pytest plugin (light: nothing heavy at import, inert without its options)
* ``results``     what a pytest session said about each node id, and the outcome that follows
* ``ingest``      the same from a pytest report log (JSONL) or JUnit XML, without re-running
* ``binding``     gates -> test references -> node ids; the ``discharges`` marker cross-check
* ``runner``      one pytest session in a subprocess running exactly the bound tests
* ``falsify``     Hypothesis profiles and per-falsifier statistics
* ``status``      a test's outcome and a gate's status, derived, never declared
* ``fingerprint`` digests of contracts, invariants, gates, falsifiers and test files
* ``provenance``  tool, git commit and environment
* ``evidence``    the deterministic evidence document, its content digest, in-toto wrapper, atomic write
* ``verify``      ``pv verify``: valid, stale or tampered, per gate
* ``check``       ``pv check`` and ``pv falsify`` as library calls
* ``render``      terminal text for the three verbs
* ``report``      ``pv report`` (HTML and Markdown for auditors) and ``pv status`` (the gate table)

Arrows point one way: this package uses ``pvcontracts.contract`` and ``pvcontracts.validate``;
nothing there uses it.
"""
