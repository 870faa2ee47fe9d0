"""The bounded vocabulary of phase names (they become Prometheus label values)."""

# Sign-in: total = core + responsive; the rest are sub-phases of core where known.
SIGNIN_CORE = "core"
SIGNIN_RESPONSIVE = "responsive"
SIGNIN_SUBPHASES = (
    "network_providers",  # mpnotify.exe
    "profile",  # User Profile Service 1 -> 2
    "group_policy",  # GroupPolicy 4001 -> 8001
    "gp_scripts",  # GroupPolicy 4018 -> 5018
    "userinit_explorer",  # userinit -> explorer / desktop shell started
    "active_setup",  # Shell-Core 62170 -> 62171 (TaskName=ActiveSetup)
)
SIGNIN_PHASES = (SIGNIN_CORE, SIGNIN_RESPONSIVE, *SIGNIN_SUBPHASES)

BOOT_PHASES = (
    # Windows Diagnostics-Performance event 100
    "main_path",
    "post_boot",
    "kernel_init",
    "driver_init",
    "devices_init",
    "user_profile",
    "machine_profile",
    "explorer_init",
    # Linux systemd, as systemd-analyze computes them
    "firmware",
    "loader",
    "kernel",
    "initrd",
    "userspace",
    "login_screen",
)

# Kinds of boot culprits: Windows Diagnostics-Performance events 101-110, one kind each
# (the event-to-kind table is agent/platform/windows_boot.py CULPRIT_KINDS).
CULPRIT_KINDS = (
    "application",  # 101
    "driver",  # 102
    "service",  # 103
    "core_component",  # 104
    "foreground_prefetch",  # 105
    "background_prefetch",  # 106
    "machine_policy",  # 107
    "user_policy",  # 108
    "device",  # 109
    "session_manager",  # 110
)

# Kinds of sign-in contributors: the named parts of a sign-in's time (Windows: see
# agent/platform/windows_contributors.py for the events each kind is read from).
CONTRIBUTOR_KINDS = (
    "gp_extension",  # a Group Policy client-side extension (GroupPolicy 4016 -> 5016)
    "gp_script",  # a Group Policy logon script (GroupPolicy 4019 -> 5019)
    "startup_app",  # a Run-key command Explorer starts at sign-in (Shell-Core 9707 -> 9708)
    "profile",  # loading the user profile, named by its type (User Profile Service 67)
)
#: The names of "profile" contributors: the profile type Windows loaded.
PROFILE_TYPES = ("local", "roaming", "temporary", "mandatory")
