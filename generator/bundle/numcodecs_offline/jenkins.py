"""Placeholder for the compiled numcodecs.jenkins (see numcodecs._unavailable)."""

from ._unavailable import unavailable_function

jenkins_lookup3 = unavailable_function("jenkins_lookup3", "jenkins_lookup3")
