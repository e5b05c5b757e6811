"""The operator's built-in templates, written for town halls (French). Fictitious sender
domains under `.example` (RFC 2606): no real company or administration is imitated by
address, and a reply can never reach anyone."""

from __future__ import annotations

from typing import Any

BUILTIN: list[dict[str, Any]] = [
    {
        "slug": "colis",
        "name": "Avis de passage d'un colis",
        "sender_name": "Service Livraison",
        "sender_address": "avis@livraison-colis.example",
        "subject": "URGENT : votre colis n'a pas pu etre livrer",
        "body": (
            "Bonjour,\n\nNotre livreur n'a pas pu deposer votre colis a la mairie.\n"
            "Sans action de votre part sous 24h, il sera retourné a l'expediteur.\n\n"
            "Reprogrammer la livraison : {lien}\n\nService Livraison"
        ),
        "landing_title": "Suivi de colis — connexion",
        "sender_credibility": 0,
        "urgent": True,
        "errors": True,
        "personalised": False,
        "tells": [
            "L'expéditeur « livraison-colis.example » n'est pas celui d'un transporteur connu.",
            "L'urgence (« sous 24h ») pousse à cliquer sans réfléchir.",
            "Des fautes d'accents et d'accord (« etre livrer »).",
            "Aucun numéro de colis ni nom : le message est envoyé à tout le monde.",
        ],
    },
    {
        "slug": "impots",
        "name": "Remboursement sur le site des impôts",
        "sender_name": "Finances publiques",
        "sender_address": "remboursement@impots-gouv.example",
        "subject": "Vous avez droit à un remboursement de 248,30 €",
        "body": (
            "Madame, Monsieur,\n\nAprès le dernier calcul de votre impôt, un remboursement de "
            "248,30 € vous est dû.\nPour le recevoir, confirmez vos coordonnées avant le 15 : "
            "{lien}\n\nLa Direction générale des Finances publiques"
        ),
        "landing_title": "impots.gouv — Espace particulier",
        "sender_credibility": 1,
        "urgent": True,
        "errors": False,
        "personalised": False,
        "tells": [
            "L'adresse « impots-gouv.example » imite impots.gouv.fr sans l'être.",
            "L'administration fiscale n'annonce jamais un remboursement par courriel avec un lien.",
            "« Madame, Monsieur » : le vrai service connaît votre nom.",
        ],
    },
    {
        "slug": "collegue-document",
        "name": "Un collègue de la mairie partage un document",
        "sender_name": "Secrétariat de mairie",
        "sender_address": "secretariat@mairie-{commune_slug}.example",
        "subject": "{prenom}, document partagé : délibération à relire",
        "body": (
            "Bonjour {prenom},\n\nJe te partage la délibération du prochain conseil de "
            "{commune}, peux-tu la relire ?\n\nOuvrir le document : {lien}\n\nMerci !"
        ),
        "landing_title": "Document partagé — connectez-vous",
        "sender_credibility": 2,
        "urgent": False,
        "errors": False,
        "personalised": True,
        "tells": [
            "L'adresse « mairie-….example » n'est pas celle de la mairie sur Clocher.",
            "Un vrai partage du coffre-fort arrive de Clocher, pas d'une adresse inconnue.",
            "Le lien ouvre une page qui redemande le mot de passe : un collègue n'en a pas besoin.",
        ],
    },
    {
        "slug": "prefecture",
        "name": "Plateforme de la préfecture",
        "sender_name": "Préfecture — Contrôle de légalité",
        "sender_address": "actes@prefecture-depot.example",
        "subject": "Acte rejeté : nouvelle transmission requise avant ce soir",
        "body": (
            "Bonjour {prenom},\n\nL'acte transmis par {commune} a été rejeté par la "
            "plateforme de télétransmission. Merci de vous reconnecter pour le déposer à "
            "nouveau avant 18 h : {lien}\n\nLe bureau du contrôle de légalité"
        ),
        "landing_title": "Télétransmission des actes — connexion",
        "sender_credibility": 1,
        "urgent": True,
        "errors": False,
        "personalised": True,
        "tells": [
            "L'adresse « prefecture-depot.example » n'est pas celle de la préfecture.",
            "L'urgence (« avant 18 h ») empêche de vérifier.",
            "Un rejet se consulte dans l'outil habituel, pas par un lien reçu.",
        ],
    },
    {
        "slug": "facture-fournisseur",
        "name": "Facture d'un fournisseur",
        "sender_name": "Comptabilité fournisseur",
        "sender_address": "factures@fournitures-collectivites.example",
        "subject": "Facture impayée n° 2024-1187 — relance",
        "body": (
            "Bonjour,\n\nSauf erreur, la facture 2024-1187 reste impayée. Le nouveau RIB "
            "et la facture sont disponibles ici : {lien}\n\nCordialement"
        ),
        "landing_title": "Espace client — connexion",
        "sender_credibility": 1,
        "urgent": False,
        "errors": False,
        "personalised": False,
        "tells": [
            "Un changement de RIB annoncé par courriel est le signe classique de la fraude.",
            "Le fournisseur n'est pas nommé et l'adresse ne correspond à aucun marché.",
            "Vérifiez toujours par téléphone, au numéro que vous connaissez déjà.",
        ],
    },
    {
        "slug": "clocher-connexion",
        "name": "Fausse page de connexion Clocher",
        "sender_name": "Clocher — Support",
        "sender_address": "support@clocher-connexion.example",
        "subject": "{prenom}, votre boîte aux lettres est presque pleine",
        "body": (
            "Bonjour {prenom},\n\nVotre boîte aux lettres de {commune} a atteint 98 % de son "
            "quota. Reconnectez-vous pour conserver vos messages : {lien}\n\nL'équipe Clocher"
        ),
        "landing_title": "Clocher — Connexion",
        "sender_credibility": 2,
        "urgent": False,
        "errors": False,
        "personalised": True,
        "tells": [
            "Clocher écrit depuis l'adresse « ne-pas-repondre » du domaine du Département.",
            "L'adresse de la page n'est pas celle de votre Clocher habituel.",
            "Clocher ne demande jamais votre mot de passe par un lien dans un courriel.",
        ],
    },
]
