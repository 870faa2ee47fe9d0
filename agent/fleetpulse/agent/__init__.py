"""fleetpulse agent: measures boot, sign-in and application usage on an endpoint."""

__version__ = "0.1.0"
