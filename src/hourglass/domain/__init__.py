"""Pure rules of Hourglass: no I/O, no clock (time is a parameter), no framework."""
