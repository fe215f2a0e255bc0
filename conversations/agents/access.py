"""Who may do what: staff in the "agents" group review and reply, admins configure bots."""

from typing import Any

AGENTS_GROUP = "agents"


def agent_may_review(user: Any) -> bool:
    """Read transcripts and watch conversations live."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("conversations.view_conversation")
    )


def agent_may_reply(user: Any) -> bool:
    """Claim, answer, hand back and close conversations."""
    return agent_may_review(user) and user.has_perm("conversations.change_conversation")


def _profile(user: Any) -> Any:
    from django.core.exceptions import ObjectDoesNotExist

    try:
        return user.agent_profile
    except ObjectDoesNotExist:
        return None


def agent_name(user: Any) -> str:
    """What customers and colleagues see: the profile's display name, else the first name."""
    if user is None:
        return ""
    profile = _profile(user)
    if profile is not None and profile.display_name.strip():
        return profile.display_name.strip()
    return user.get_short_name() or user.get_username()


def agent_avatar_url(user: Any) -> str:
    """The avatar's public path (versioned, so a new picture is not cached away), or ""."""
    if user is None:
        return ""
    profile = _profile(user)
    if profile is None or not profile.avatar:
        return ""
    from django.urls import reverse

    version = int(profile.updated_at.timestamp()) if profile.updated_at else 0
    return f"{reverse('agents:avatar', args=[user.pk])}?v={version}"


AGENT_PERMISSIONS = [
    "conversations.view_conversation",
    "conversations.change_conversation",
    "conversations.view_message",
    "conversations.change_message",
    "conversations.view_customer",
]


def agents_group_ensure() -> Any:
    """The "agents" group with its permissions (a migration creates it; this repairs it)."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=AGENTS_GROUP)
    for label in AGENT_PERMISSIONS:
        app_label, codename = label.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return group
