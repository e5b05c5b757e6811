from django.urls import include, path, re_path

from clocher.vault import import_views, views
from clocher.vault.dav import nextcloud

app_name = "vault"
_commune_coffre_patterns = [
    path("", views.home, name="home"),
    path("dossiers/<int:node_id>/", views.folder, name="folder"),
    path("dossiers/<int:node_id>/envoyer", views.upload, name="upload"),
    path(
        "dossiers/<int:node_id>/nouveau-dossier",
        views.create_folder,
        name="create_folder",
    ),
    path(
        "dossiers/<int:node_id>/importer",
        import_views.import_zip,
        name="import_zip",
    ),
    path(
        "imports/<int:import_id>/",
        import_views.import_status,
        name="import_status",
    ),
    path("fichiers/<int:node_id>/", views.file, name="file"),
    path(
        "fichiers/<int:node_id>/telecharger",
        views.download,
        name="download",
    ),
    path("fichiers/<int:node_id>/apercu.png", views.preview, name="preview"),
    path(
        "fichiers/<int:node_id>/versions/<int:version_id>/restaurer",
        views.version_restore,
        name="version_restore",
    ),
    path("elements/<int:node_id>/action", views.node_action, name="action"),
    path("espaces/<int:space_id>/corbeille/", views.trash, name="trash"),
    path(
        "corbeille/<int:node_id>/action",
        views.trash_action,
        name="trash_action",
    ),
    path(
        "partages/<int:share_id>/revoquer",
        views.share_revoke,
        name="share_revoke",
    ),
    path("groupes/", views.groups, name="groups"),
    path(
        "groupes/<int:space_id>/membres",
        views.group_members,
        name="group_members",
    ),
    path(
        "groupes/<int:group_id>/renommer",
        views.group_rename,
        name="group_rename",
    ),
    path(
        "groupes/<int:group_id>/supprimer",
        views.group_remove,
        name="group_remove",
    ),
]
_partage_patterns = [
    path("<str:token>/", views.public_share, name="public_share"),
    path(
        "<str:token>/telecharger/<int:node_id>",
        views.public_download,
        name="public_download",
    ),
    path(
        "<str:token>/apercu/<int:node_id>.png",
        views.public_preview,
        name="public_preview",
    ),
]
_ocs_patterns = [
    path("v1.php/cloud/capabilities", nextcloud.capabilities, {"version": 1}, name="ocs1_caps"),
    path("v2.php/cloud/capabilities", nextcloud.capabilities, {"version": 2}, name="ocs2_caps"),
    path("v1.php/cloud/user", nextcloud.user_info, {"version": 1}, name="ocs1_user"),
    path("v2.php/cloud/user", nextcloud.user_info, {"version": 2}, name="ocs2_user"),
]
_index_php_patterns = [
    path("login/v2", nextcloud.login_v2_start, name="login_v2_start"),
    path("login/v2/poll", nextcloud.login_v2_poll, name="login_v2_poll"),
    path(
        "login/v2/flow/<str:flow_token>",
        nextcloud.login_v2_flow,
        name="login_v2_flow",
    ),
]
urlpatterns = [
    path("c/<str:insee>/coffre/", include(_commune_coffre_patterns)),
    path("partage/", include(_partage_patterns)),
    # Nextcloud clients' endpoints (the DAV tree itself is WsgiDAV's, see dav/app.py).
    path("status.php", nextcloud.status, name="nc_status"),
    path("ocs/", include(_ocs_patterns)),
    path("index.php/", include(_index_php_patterns)),
    re_path(
        r"^remote\.php/dav/uploads/(?P<login>[^/]+)/(?P<transfer>[^/]+)/?$",
        nextcloud.upload_session,
        name="nc_upload_session",
    ),
    re_path(
        r"^remote\.php/dav/uploads/(?P<login>[^/]+)/(?P<transfer>[^/]+)/(?P<part>[^/]+)$",
        nextcloud.upload_part,
        name="nc_upload_part",
    ),
]
