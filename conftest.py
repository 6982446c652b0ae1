"""Test-wide settings: every notebook and test runs under the CI profile, headless, with strict
exercise checks, and with its own progress file so a test run never touches a learner's."""
import os
import tempfile

os.environ.setdefault("KIT_PROFILE", "smoke")
os.environ.setdefault("KIT_HEADLESS", "1")
os.environ.setdefault("KIT_EXERCISES_STRICT", "1")
os.environ.setdefault("KIT_PROGRESS", os.path.join(tempfile.mkdtemp(prefix="kit-progress-"), "progress.json"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")



from kit.runner import nudge_quiet_kernels  # noqa: E402  (after the environment above is set)

nudge_quiet_kernels()
