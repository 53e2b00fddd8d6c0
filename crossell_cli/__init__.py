"""xsell: cross-sell analytics for RevOps, from CRM and billing exports."""

__version__ = "0.1.0"
