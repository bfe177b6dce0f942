"""What Luca's test suites share: the embedded emulator, a polling helper, fakes. Never shipped."""
