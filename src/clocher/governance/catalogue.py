"""What the platform processes, written once in plain French: the entries a register of
processing activities starts from. A commune is the controller of what its agents,
elected officials and citizens put in Clocher (the département, as operator, processes
it on its behalf); the operator is the controller of its own staff's accounts, of the
platform's security logs and of the adhésions. The durations come from the settings that
the housekeeping enforces (`retention.py`), so the register says what really happens."""

from __future__ import annotations

from django.conf import settings

NO_TRANSFER = (
    "Aucun : les données sont hébergées et traitées dans le centre de données du "
    "département, en France ; aucun transfert hors de l'Union européenne."
)
BASE_SECURITY = (
    "Hébergement dans le centre de données du département ; comptes nominatifs, mots de "
    "passe argon2, double facteur pour l'opérateur ; cloisonnement entre communes vérifié "
    "par des tests ; journal d'audit chaîné ; sauvegardes chiffrées."
)
PROCESSOR = "le département (opérateur de Clocher), sous-traitant"
PUBLIC_TASK = "Mission d'intérêt public (RGPD art. 6-1-e)"


def _days(days: int) -> str:
    return "sans limite" if days <= 0 else f"{days} jours"


def commune_entries() -> list[dict[str, str]]:
    """The register of a commune: one entry per service it uses through Clocher."""
    return [
        {
            "key": "membres",
            "name": "Comptes des agents et des élus",
            "purpose": "Donner accès aux services numériques de la mairie.",
            "legal_basis": PUBLIC_TASK,
            "data_categories": "Identité (nom, prénom), adresse électronique, fonction, rôle, "
            "dates de connexion.",
            "people": "Agents et élus de la commune.",
            "recipients": f"Administrateurs de la commune ; {PROCESSOR}.",
            "retention": "Durée des fonctions ; compte supprimé à la demande (effacement).",
            "security": BASE_SECURITY,
        },
        {
            "key": "messagerie",
            "name": "Messagerie professionnelle",
            "purpose": "Échanger par courriel au nom de la commune.",
            "legal_basis": PUBLIC_TASK,
            "data_categories": "Adresses, messages et pièces jointes, journaux d'envoi.",
            "people": "Agents, élus, correspondants (citoyens, entreprises, administrations).",
            "recipients": f"Titulaire de la boîte et délégués ; {PROCESSOR}.",
            "retention": "Tant que l'agent est en fonction ; boîte d'un agent parti supprimée "
            f"après {_days(settings.RETENTION_DEPARTED_MAIL_DAYS)}.",
            "security": BASE_SECURITY + " Connexions chiffrées (TLS), filtrage antispam, "
            "signature DKIM.",
        },
        {
            "key": "coffre",
            "name": "Coffre-fort numérique (documents)",
            "purpose": "Conserver et partager les documents de travail de la mairie.",
            "legal_basis": PUBLIC_TASK,
            "data_categories": "Documents déposés par les agents, qui peuvent contenir toute "
            "donnée des dossiers administratifs.",
            "people": "Agents ; personnes citées dans les documents.",
            "recipients": "Agents de la commune, destinataires des liens de partage ; "
            f"{PROCESSOR}.",
            "retention": "Choisie par la commune ; corbeille vidée après "
            f"{_days(settings.VAULT_TRASH_DAYS)}.",
            "security": BASE_SECURITY + " Chiffrement au repos (AES-256) par commune.",
        },
        {
            "key": "agendas",
            "name": "Agendas et carnets d'adresses",
            "purpose": "Organiser les rendez-vous, réunions et ressources de la mairie.",
            "legal_basis": PUBLIC_TASK,
            "data_categories": "Événements, participants, coordonnées des contacts.",
            "people": "Agents, élus, contacts de la commune.",
            "recipients": f"Agents de la commune ; {PROCESSOR}.",
            "retention": "Tant que l'agent est en fonction.",
            "security": BASE_SECURITY,
        },
        {
            "key": "archives",
            "name": "Archivage probant des actes",
            "purpose": "Conserver délibérations et arrêtés avec leur valeur de preuve.",
            "legal_basis": "Obligation légale (RGPD art. 6-1-c ; code du patrimoine, "
            "code général des collectivités territoriales).",
            "data_categories": "Actes et leurs métadonnées, qui peuvent nommer des personnes.",
            "people": "Personnes nommées dans les actes.",
            "recipients": "Agents habilités ; Archives départementales (versement SEDA) ; "
            f"{PROCESSOR}.",
            "retention": "Durée d'utilité administrative de chaque acte, puis versement ou "
            "destruction visée par l'archiviste.",
            "security": BASE_SECURITY + " Scellement, horodatage RFC 3161, écriture unique.",
        },
        {
            "key": "bouclier",
            "name": "Boîtier de sécurité de la mairie",
            "purpose": "Protéger le réseau de la mairie contre les intrusions.",
            "legal_basis": "Obligation de sécurité (RGPD art. 32) ; intérêt public.",
            "data_categories": "Adresses IP, ports, pays, volumes des flux bloqués (pas le "
            "contenu des échanges).",
            "people": "Utilisateurs du réseau de la mairie ; sources des attaques.",
            "recipients": f"Administrateurs de la commune ; {PROCESSOR}.",
            "retention": f"Événements : {_days(settings.RETENTION_SHIELD_EVENTS_DAYS)}.",
            "security": BASE_SECURITY + " Échanges boîtier-central signés.",
        },
        {
            "key": "sensibilisation",
            "name": "Sensibilisation à l'hameçonnage",
            "purpose": "Apprendre aux agents à reconnaître les courriels frauduleux, par "
            "des exercices ; jamais pour les évaluer ou les sanctionner.",
            "legal_basis": "Obligation de sécurité (RGPD art. 32) ; information préalable des "
            "agents.",
            "data_categories": "Adresse, réactions aux exercices (ouvert, cliqué, signalé), "
            "niveau d'entraînement.",
            "people": "Agents inscrits au programme.",
            "recipients": "L'agent lui-même ; la commune ne voit que des taux d'ensemble ; "
            f"{PROCESSOR}.",
            "retention": f"Résultats : {_days(settings.RETENTION_AWARENESS_DAYS)}.",
            "security": BASE_SECURITY,
        },
        {
            "key": "energie",
            "name": "Suivi énergétique des bâtiments",
            "purpose": "Réduire la consommation des bâtiments publics (décret tertiaire).",
            "legal_basis": "Obligation légale (décret tertiaire) ; mission d'intérêt public.",
            "data_categories": "Consommations des compteurs des bâtiments communaux ; aucune "
            "donnée personnelle en principe (un logement de fonction en serait une).",
            "people": "Aucune en principe ; occupants d'un logement de fonction le cas échéant.",
            "recipients": f"Agents de la commune ; {PROCESSOR}.",
            "retention": "Dix ans (période de référence du décret tertiaire).",
            "security": BASE_SECURITY,
        },
        {
            "key": "eservices",
            "name": "Audit de sécurité des e-services",
            "purpose": "Vérifier la sécurité des sites et services en ligne de la commune.",
            "legal_basis": "Obligation de sécurité (RGPD art. 32).",
            "data_categories": "Adresses des sites, domaines et adresses IP de la commune, "
            "constats techniques ; pas de données des usagers.",
            "people": "Aucune (données techniques de la commune).",
            "recipients": f"Administrateurs de la commune ; {PROCESSOR}.",
            "retention": f"Constats : {_days(settings.RETENTION_ESERVICES_DAYS)}.",
            "security": BASE_SECURITY,
        },
    ]


def operator_entries() -> list[dict[str, str]]:
    """The operator's own register: what the département processes as controller."""
    return [
        {
            "key": "comptes",
            "name": "Comptes et authentification",
            "purpose": "Identifier les personnes qui se connectent à Clocher et protéger "
            "leurs comptes.",
            "legal_basis": PUBLIC_TASK,
            "data_categories": "Adresse électronique, nom, empreinte du mot de passe, "
            "second facteur, mots de passe d'application.",
            "people": "Personnel de l'opérateur, agents et élus des communes.",
            "recipients": "Équipe numérique du département.",
            "retention": "Durée du compte.",
            "security": BASE_SECURITY,
        },
        {
            "key": "journaux",
            "name": "Journaux de connexion et détection de force brute",
            "purpose": "Détecter et bloquer les attaques contre les comptes.",
            "legal_basis": "Obligation de sécurité (RGPD art. 32).",
            "data_categories": "Adresse tentée, adresse IP, date, service, succès ou échec.",
            "people": "Toute personne qui tente de se connecter.",
            "recipients": "Équipe numérique du département.",
            "retention": _days(settings.RETENTION_LOGS_DAYS),
            "security": BASE_SECURITY,
        },
        {
            "key": "journal_audit",
            "name": "Journal d'audit de la plateforme",
            "purpose": "Prouver qui a fait quoi et quand (traçabilité des changements).",
            "legal_basis": "Obligation de sécurité (RGPD art. 32) ; intérêt public.",
            "data_categories": "Auteur, date, adresse IP, action, objet de l'action.",
            "people": "Personnel de l'opérateur, agents et élus.",
            "recipients": "Équipe numérique du département ; la commune pour ses entrées.",
            "retention": f"{_days(settings.RETENTION_AUDIT_DAYS)} ; conservé lors d'un "
            "effacement (preuve).",
            "security": BASE_SECURITY + " Chaînage SHA-256 vérifiable.",
        },
        {
            "key": "adhesions",
            "name": "Adhésions des communes",
            "purpose": "Instruire les demandes d'adhésion et provisionner les services.",
            "legal_basis": PUBLIC_TASK,
            "data_categories": "Commune, nom et adresse du demandeur, fonction.",
            "people": "Demandeurs (secrétaires de mairie, élus).",
            "recipients": "Équipe numérique du département.",
            "retention": "Durée de l'adhésion.",
            "security": BASE_SECURITY,
        },
        {
            "key": "defense_collective",
            "name": "Défense collective (bouclier central)",
            "purpose": "Partager entre les boîtiers des mairies les adresses qui attaquent.",
            "legal_basis": "Obligation de sécurité (RGPD art. 32).",
            "data_categories": "Adresses IP sources, pays, scénarios d'attaque, volumes.",
            "people": "Sources des attaques.",
            "recipients": "Équipe numérique du département ; boîtiers des communes.",
            "retention": f"Événements : {_days(settings.RETENTION_SHIELD_EVENTS_DAYS)} ; "
            "blocages : jusqu'à leur expiration.",
            "security": BASE_SECURITY,
        },
        {
            "key": "sauvegardes",
            "name": "Sauvegardes et reprise d'activité",
            "purpose": "Restaurer les services et les données après un incident.",
            "legal_basis": "Obligation de sécurité (RGPD art. 32).",
            "data_categories": "Copie de toutes les données de la plateforme.",
            "people": "Toutes les personnes dont Clocher traite des données.",
            "recipients": "Équipe numérique du département.",
            "retention": "7 quotidiennes, 4 hebdomadaires, 12 mensuelles.",
            "security": BASE_SECURITY + " Sauvegardes chiffrées, exercices de restauration.",
        },
        {
            "key": "incidents",
            "name": "Registre des incidents et violations de données",
            "purpose": "Gérer les incidents et notifier la CNIL dans les 72 heures.",
            "legal_basis": "Obligation légale (RGPD art. 33).",
            "data_categories": "Description de l'incident, personnes et données touchées.",
            "people": "Personnes touchées par un incident.",
            "recipients": "Équipe numérique du département ; CNIL ; communes concernées.",
            "retention": "Cinq ans après la clôture de l'incident.",
            "security": BASE_SECURITY,
        },
    ]
