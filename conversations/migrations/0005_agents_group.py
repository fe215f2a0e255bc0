"""The "agents" group: staff in it may read transcripts, answer customers and flag or close
conversations; configuring bots stays with admins."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT_PERMISSIONS = [
    ("conversation", "view_conversation"),
    ("conversation", "change_conversation"),
    ("message", "view_message"),
    ("message", "change_message"),
    ("customer", "view_customer"),
]


def agents_group_create(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    app_config = apps.get_app_config("conversations")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="agents")
    for model, codename in AGENT_PERMISSIONS:
        permission = Permission.objects.get(
            content_type__app_label="conversations", content_type__model=model, codename=codename
        )
        group.permissions.add(permission)


def agents_group_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="agents").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("conversations", "0004_agents_review_retention"),
    ]

    operations = [migrations.RunPython(agents_group_create, agents_group_delete)]
