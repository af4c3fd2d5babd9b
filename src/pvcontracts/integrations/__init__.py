"""The contracts inside the trainers people use: PyTorch Lightning, the HuggingFace Trainer, Accelerate.

Each framework has its own module, an optional extra, turning one of its runs into a
monitored run in one line:

* ``pvcontracts.integrations.lightning.ContractsCallback``: a Lightning ``Callback``
  (``pip install "pv-contracts[lightning]"``);
* ``pvcontracts.integrations.transformers.ContractsCallback``: a ``TrainerCallback`` for
  the HuggingFace ``Trainer`` (``pip install "pv-contracts[transformers]"``);
* ``pvcontracts.integrations.accelerate.AcceleratorContracts``: hooks for an
  ``Accelerator`` loop (``pip install "pv-contracts[accelerate]"``).

Importing this package imports no framework (and no torch); importing a framework's
module imports that framework. The adapters only translate the framework's hooks into
the Monitor's boundaries, through its public surface (``start``, ``close(error=)``,
``required_metrics``, metric sources): the contracts' text is the check, as everywhere.
"""

__all__: list[str] = []
