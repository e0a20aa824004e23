"""The one error the exporter raises: it names the network, the module or op, and a way out."""


class ExportError(Exception):
    pass
