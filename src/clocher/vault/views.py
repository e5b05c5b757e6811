"""Vault pages: browse a commune's spaces, upload (streamed, with progress), download,
preview, rename/move, versions, trash, favourites, share links; and the public pages of
a share link (download, or drop-box upload for citizens).

Every node is looked up through `services.node_for`, i.e. among the spaces the person
may open in that commune: anything else is 404.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from clocher.accounts.models import User
from clocher.accounts.services import LoginLocked, check_not_locked, note_attempt
from clocher.core import scoping
from clocher.core.access import commune_required
from clocher.core.models import Commune
from clocher.core.request import actor_of, client_ip
from clocher.vault import previews, services, sharing
from clocher.vault.models import Node, ShareLink, ShareMode, Space, SpaceKind, Version
from clocher.vault.upload_handler import StreamedFile, VaultUploadHandler


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _node(request: HttpRequest, commune: Commune, node_id: int, *, deleted: bool = False) -> Node:
    try:
        return services.node_for(_user(request), commune, node_id, deleted=deleted)
    except Node.DoesNotExist as exc:
        raise Http404 from exc


def _spaces(request: HttpRequest, commune: Commune) -> list[Space]:
    return [s for s in services.spaces_for(_user(request)) if s.commune_id == commune.pk]


def _folder_url(commune: Commune, node: Node) -> str:
    return reverse("vault:folder", kwargs={"insee": commune.insee, "node_id": node.pk})


def _back(commune: Commune, node: Node) -> HttpResponse:
    folder = node if node.is_folder else node.parent
    assert folder is not None
    return redirect(_folder_url(commune, folder))


@commune_required()
def home(request: HttpRequest, commune: Commune) -> HttpResponse:
    spaces = _spaces(request, commune)
    query = request.GET.get("q", "").strip()
    found = (
        [n for n in services.search(_user(request), query) if n.space in spaces] if query else []
    )
    return render(
        request,
        "vault/home.html",
        {
            "commune": commune,
            "spaces": [(s, services.root_of(s)) for s in spaces],
            "usage": services.usage(commune),
            "query": query,
            "found": found,
            "is_admin": scoping.is_commune_admin(request.user, commune),
            "favourites": [
                n for n in sharing.favourites(_user(request)) if n.space.commune_id == commune.pk
            ],
        },
    )


@commune_required()
def folder(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    node = _node(request, commune, node_id)
    if not node.is_folder:
        return redirect("vault:file", insee=commune.insee, node_id=node.pk)
    space = node.space
    lineage = [a for a in reversed(services.ancestors(node))]
    return render(
        request,
        "vault/folder.html",
        {
            "commune": commune,
            "folder": node,
            "space": space,
            "lineage": lineage,
            "children": services.children(node),
            "favourite_ids": sharing.favourite_ids(_user(request)),
            "shares": sharing.shares_of(node),
            "room": services.available_bytes(space),
            "space_limit": space.quota_bytes or commune.quota_storage_bytes,
            "folders": _move_targets(request, commune),
            "today": timezone.localdate().isoformat(),
        },
    )


def _move_targets(request: HttpRequest, commune: Commune) -> list[tuple[Node, str]]:
    """Folders one may move things into (first levels of each space, by path)."""
    targets = []
    for space in _spaces(request, commune):
        root = services.root_of(space)
        targets.append((root, f"{space.name}/"))
        for sub in services.children(root):
            if sub.is_folder:
                targets.append((sub, f"{space.name}/{sub.name}/"))
    return targets


@commune_required()
def file(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    node = _node(request, commune, node_id)
    if node.is_folder:
        return redirect(_folder_url(commune, node))
    return render(
        request,
        "vault/file.html",
        {
            "commune": commune,
            "node": node,
            "lineage": list(reversed(services.ancestors(node))),
            "versions": services.versions(node),
            "shares": sharing.shares_of(node),
            "previewable": previews.can_preview(node),
            "is_favourite": node.pk in sharing.favourite_ids(_user(request)),
            "today": timezone.localdate().isoformat(),
        },
    )


def _download(node: Node, version: Version | None = None) -> FileResponse:
    reader = services.VersionReader(version or node.current)  # type: ignore[arg-type]
    response = FileResponse(
        reader,
        as_attachment=True,
        filename=node.name,
        content_type=node.content_type or "application/octet-stream",
    )
    response["Content-Length"] = str((version or node).size)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@commune_required()
def download(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponseBase:
    node = _node(request, commune, node_id)
    if node.is_folder or node.current is None:
        raise Http404
    version = None
    if request.GET.get("version"):
        version = get_object_or_404(Version, pk=request.GET["version"], node=node)
    return _download(node, version)


@commune_required()
def preview(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    node = _node(request, commune, node_id)
    return _preview(node)


def _preview(node: Node) -> HttpResponse:
    if not previews.can_preview(node):
        raise Http404
    try:
        png = previews.thumbnail(node)
    except previews.PreviewError as exc:
        raise Http404(str(exc)) from exc
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _streamed_files(request: HttpRequest) -> list[StreamedFile]:
    received: list[object] = list(request.FILES.getlist("fichiers"))
    return [f for f in received if isinstance(f, StreamedFile)]


def _answer(request: HttpRequest, ok: bool, text: str, back: str) -> HttpResponse:
    """JSON for the page's script (progress bar), a message and redirect without it."""
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"ok": ok, "message": text}, status=200 if ok else 400)
    (messages.success if ok else messages.error)(request, text)
    return redirect(back)


@csrf_exempt  # the handlers must be set before the body is read; CSRF is checked below
@commune_required()
def upload(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    node = _node(request, commune, node_id)
    if request.method != "POST" or not node.is_folder:
        raise Http404
    handler = VaultUploadHandler(commune, services.available_bytes(node.space))
    request.upload_handlers = [handler]  # type: ignore[assignment]
    return _store_uploads(request, commune, node, handler)


@csrf_protect
def _store_uploads(
    request: HttpRequest, commune: Commune, node: Node, handler: VaultUploadHandler
) -> HttpResponse:
    back = _folder_url(commune, node)
    files = _streamed_files(request)
    if handler.over_quota:
        return _answer(request, False, "Envoi refusé : le quota de l'espace serait dépassé.", back)
    if not files:
        return _answer(request, False, "Aucun fichier reçu.", back)
    stored, refused = [], []
    for received in files:
        try:
            services.save_file(
                actor_of(request),
                node,
                received.name or "",
                received.vault_upload,
                received.content_type or "",
            )
            stored.append(received.name)
        except ValidationError as exc:
            refused.append(f"{received.name} : {' '.join(exc.messages)}")
    if refused:
        return _answer(request, False, "Refusé — " + " ; ".join(refused), back)
    return _answer(request, True, f"{len(stored)} fichier(s) enregistré(s).", back)


@require_POST
@commune_required()
def create_folder(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    parent = _node(request, commune, node_id)
    try:
        services.create_folder(actor_of(request), parent, request.POST.get("nom", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(_folder_url(commune, parent))


@require_POST
@commune_required()
def node_action(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    """Rename, move, trash, favourite, share: one form per action on the pages."""
    node = _node(request, commune, node_id)
    if node.parent_id is None:
        raise Http404  # a space's root is not renamed, moved nor trashed from here
    action = request.POST.get("action")
    actor = actor_of(request)
    try:
        if action == "renommer":
            services.move(actor, node, node.parent, request.POST.get("nom", ""))  # type: ignore[arg-type]
            messages.success(request, "Renommé.")
        elif action == "deplacer":
            target = _node(request, commune, int(request.POST.get("dossier") or 0))
            services.move(actor, node, target, node.name)
            messages.success(request, f"Déplacé dans « {target.name or target.space.name} ».")
            return redirect(_folder_url(commune, target))
        elif action == "corbeille":
            folder = node.parent
            services.trash(actor, node)
            messages.success(request, f"« {node.name} » mis à la corbeille.")
            return redirect(_folder_url(commune, folder))  # type: ignore[arg-type]
        elif action == "favori":
            starred = sharing.toggle_favourite(_user(request), node)
            messages.success(request, "Ajouté aux favoris." if starred else "Retiré des favoris.")
        elif action == "partager":
            return _share(request, commune, node)
        else:
            raise Http404
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return (
        _back(commune, node)
        if node.is_folder
        else redirect("vault:file", insee=commune.insee, node_id=node.pk)
    )


def _share(request: HttpRequest, commune: Commune, node: Node) -> HttpResponse:
    expires = request.POST.get("expire_le", "")
    expires_at = None
    if expires:
        try:
            day = datetime.strptime(expires, "%Y-%m-%d").date()  # noqa: DTZ007 - a date
        except ValueError:
            messages.error(request, "Date d'expiration illisible (AAAA-MM-JJ).")
            return _back(commune, node)
        expires_at = timezone.make_aware(datetime.combine(day, time(23, 59, 59)))
    try:
        new = sharing.create_share(
            actor_of(request),
            node,
            mode=request.POST.get("mode", ShareMode.READ),
            expires_at=expires_at,
            password=request.POST.get("mot_de_passe", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(commune, node)
    url = request.build_absolute_uri(reverse("vault:public_share", kwargs={"token": new.token}))
    messages.success(request, f"Lien créé (copiez-le maintenant, il ne sera plus affiché) : {url}")
    if node.is_folder:
        return redirect(_folder_url(commune, node))
    return redirect("vault:file", insee=commune.insee, node_id=node.pk)


@require_POST
@commune_required()
def share_revoke(request: HttpRequest, commune: Commune, share_id: int) -> HttpResponse:
    link = get_object_or_404(ShareLink, pk=share_id)
    node = _node(request, commune, link.node_id)  # 404 unless the person may open it
    sharing.revoke_share(actor_of(request), link)
    messages.success(request, "Lien révoqué : il ne fonctionne plus.")
    return (
        _back(commune, node)
        if node.is_folder
        else redirect("vault:file", insee=commune.insee, node_id=node.pk)
    )


@require_POST
@commune_required()
def version_restore(
    request: HttpRequest, commune: Commune, node_id: int, version_id: int
) -> HttpResponse:
    node = _node(request, commune, node_id)
    version = get_object_or_404(Version, pk=version_id, node=node)
    try:
        services.restore_version(actor_of(request), node, version)
        messages.success(request, "Version restaurée : elle devient la version courante.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("vault:file", insee=commune.insee, node_id=node.pk)


@commune_required()
def trash(request: HttpRequest, commune: Commune, space_id: int) -> HttpResponse:
    space = next((s for s in _spaces(request, commune) if s.pk == space_id), None)
    if space is None:
        raise Http404
    return render(
        request,
        "vault/trash.html",
        {
            "commune": commune,
            "space": space,
            "items": services.trashed(space),
            "trash_days": settings.VAULT_TRASH_DAYS,
        },
    )


@require_POST
@commune_required()
def trash_action(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    node = _node(request, commune, node_id, deleted=True)
    actor = actor_of(request)
    if request.POST.get("action") == "supprimer":
        services.purge(actor, node)
        messages.success(request, f"« {node.name} » supprimé définitivement.")
    else:
        restored = services.restore(actor, node)
        messages.success(request, f"« {restored.name} » restauré.")
    return redirect("vault:trash", insee=commune.insee, space_id=node.space_id)


# --------------------------------------------------------------------------- public links


def _session_key(link: ShareLink) -> str:
    return f"vault_share_{link.pk}"


def _open_share(request: HttpRequest, token: str) -> ShareLink:
    link = sharing.find_share(token)
    if link is None:
        raise Http404("Ce lien n'existe pas, a expiré ou a été révoqué.")
    return link


def _unlocked(request: HttpRequest, link: ShareLink) -> bool:
    return not link.password_hash or bool(request.session.get(_session_key(link)))


@csrf_exempt  # drop-box uploads set their handler first; CSRF is checked below
def public_share(request: HttpRequest, token: str) -> HttpResponse:
    link = _open_share(request, token)
    if request.method == "POST" and link.mode == ShareMode.DROP and _unlocked(request, link):
        handler = VaultUploadHandler(
            link.node.space.commune, services.available_bytes(link.node.space)
        )
        request.upload_handlers = [handler]  # type: ignore[assignment]
        return _public_drop(request, link, handler)
    return _public_page(request, link)


@csrf_protect
def _public_page(request: HttpRequest, link: ShareLink) -> HttpResponse:
    context: dict[str, Any] = {"link": link, "token": request.resolver_match.kwargs["token"]}  # type: ignore[union-attr]
    if not _unlocked(request, link):
        if request.method == "POST":
            ip = client_ip(request)
            login = f"partage:{link.pk}"
            try:
                check_not_locked(login, ip)
            except LoginLocked as exc:
                context["error"] = str(exc)
            else:
                good = sharing.check_share_password(link, request.POST.get("mot_de_passe", ""))
                note_attempt(login, ip, good, service="partage")
                if good:
                    request.session[_session_key(link)] = True
                    return redirect(request.path)
                context["error"] = "Mot de passe incorrect."
        return render(request, "vault/share_password.html", context, status=200)
    node = sharing.shared_node(link, _int(request.GET.get("dossier")))
    if node is None:
        raise Http404
    context["node"] = node
    context["previewable"] = link.mode == ShareMode.READ and previews.can_preview(node)
    if link.mode == ShareMode.READ and node.is_folder:
        context["children"] = services.children(node)
        context["lineage"] = [
            a for a in reversed(services.ancestors(node)) if services.is_inside(a, link.node)
        ]
    return render(request, "vault/share.html", context)


@csrf_protect
def _public_drop(
    request: HttpRequest, link: ShareLink, handler: VaultUploadHandler
) -> HttpResponse:
    files = _streamed_files(request)
    back = request.path
    if handler.over_quota:
        return _answer(request, False, "Dépôt refusé : l'espace de la mairie est plein.", back)
    if not files:
        return _answer(request, False, "Choisissez au moins un fichier.", back)
    names = []
    for received in files:
        try:
            node = sharing.drop_file(
                link, received.name or "", received.vault_upload, client_ip(request)
            )
            names.append(node.name)
        except ValidationError as exc:
            return _answer(request, False, f"{received.name} : {' '.join(exc.messages)}", back)
    return _answer(request, True, f"Merci, la mairie a bien reçu : {', '.join(names)}.", back)


def public_download(request: HttpRequest, token: str, node_id: int) -> HttpResponseBase:
    link = _open_share(request, token)
    if link.mode != ShareMode.READ or not _unlocked(request, link):
        raise Http404
    node = sharing.shared_node(link, node_id)
    if node is None or node.is_folder or node.current is None:
        raise Http404
    sharing.note_use(link)
    return _download(node)


def public_preview(request: HttpRequest, token: str, node_id: int) -> HttpResponse:
    link = _open_share(request, token)
    if link.mode != ShareMode.READ or not _unlocked(request, link):
        raise Http404
    node = sharing.shared_node(link, node_id)
    if node is None:
        raise Http404
    return _preview(node)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


# --------------------------------------------------------------------------- group folders


def _members(commune: Commune, ids: list[str]) -> list[User]:
    """The chosen people, among the commune's active members only."""
    return list(
        User.objects.filter(
            pk__in=[i for i in ids if i.isdigit()],
            memberships__commune=commune,
            memberships__is_active=True,
        ).distinct()
    )


@commune_required(admin=True)
def groups(request: HttpRequest, commune: Commune) -> HttpResponse:
    """Group folders of the commune: create one, choose who opens it."""
    if request.method == "POST":
        try:
            services.create_group_space(
                actor_of(request),
                commune,
                request.POST.get("nom", ""),
                _members(commune, request.POST.getlist("membres")),
            )
            messages.success(request, "Dossier de groupe créé.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("vault:groups", insee=commune.insee)
    return render(
        request,
        "vault/groups.html",
        {
            "commune": commune,
            "groups": Space.objects.filter(commune=commune, kind=SpaceKind.GROUP)
            .prefetch_related("members")
            .annotate(
                items=Count(
                    "nodes",
                    filter=Q(nodes__parent__parent__isnull=True, nodes__deleted_at__isnull=True)
                    & Q(nodes__parent__isnull=False),
                )
            )
            .order_by("name"),
            "people": User.objects.filter(memberships__commune=commune, memberships__is_active=True)
            .distinct()
            .order_by("email"),
        },
    )


@require_POST
@commune_required(admin=True)
def group_members(request: HttpRequest, commune: Commune, space_id: int) -> HttpResponse:
    space = get_object_or_404(Space, pk=space_id, commune=commune, kind=SpaceKind.GROUP)
    services.set_group_members(
        actor_of(request), space, _members(commune, request.POST.getlist("membres"))
    )
    messages.success(request, f"Membres de « {space.name} » enregistrés.")
    return redirect("vault:groups", insee=commune.insee)


@require_POST
@commune_required(admin=True)
def group_rename(request: HttpRequest, commune: Commune, group_id: int) -> HttpResponse:
    space = get_object_or_404(Space, pk=group_id, commune=commune, kind=SpaceKind.GROUP)
    old = space.name
    try:
        services.rename_group_space(actor_of(request), space, request.POST.get("nom", ""))
        messages.success(request, f"« {old} » s'appelle maintenant « {space.name} ».")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("vault:groups", insee=commune.insee)


@require_POST
@commune_required(admin=True)
def group_remove(request: HttpRequest, commune: Commune, group_id: int) -> HttpResponse:
    space = get_object_or_404(Space, pk=group_id, commune=commune, kind=SpaceKind.GROUP)
    if request.POST.get("confirmer") != "oui":
        messages.error(request, "Cochez la case de confirmation pour supprimer le dossier.")
        return redirect("vault:groups", insee=commune.insee)
    try:
        services.remove_group_space(actor_of(request), space)
        messages.success(request, f"Dossier de groupe « {space.name} » supprimé.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("vault:groups", insee=commune.insee)
