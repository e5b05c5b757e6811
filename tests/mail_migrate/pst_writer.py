"""A small Outlook PST writer for the tests, from Microsoft's open specification
[MS-PST] (Outlook Personal Folders (.pst) File Format). No free tool writes PST files;
this one writes just enough for readpst (libpst) and pffinfo/pffexport (libpff) to read
a store with nested folders, messages, recipients and attachments.

The variant is the simplest one: Unicode (64-bit), no encryption (NDB_CRYPT_NONE), one
allocation map (files up to about 260 KB), every heap on one block. It follows the
spec's three layers, bottom up:

- NDB (2.2): header, blocks, the node and block B-trees, the allocation map;
- LTP (2.3): heap-on-node, BTH, property contexts (PC) and table contexts (TC);
- messaging (2.4): the message store, folders with their hierarchy/contents tables,
  messages with their recipient and attachment tables.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# --------------------------------------------------------------------------- NDB (2.2)

BLOCK_MAX = 8176  # 8 KB block minus its trailer (2.2.2.8)
AMAP_AT = 0x4400  # the first allocation map page (2.2.2.7.2)
AMAP_SPAN = 496 * 8 * 64  # bytes one AMap page covers
DATA_AT = AMAP_AT + 1024  # after the AMap and the (deprecated) PMap pages
PTYPE_BBT, PTYPE_NBT, PTYPE_PMAP, PTYPE_AMAP = 0x80, 0x81, 0x83, 0x84


def crc(data: bytes) -> int:
    """5.3: CRC-32 without the usual pre- and post-inversion."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def signature(ib: int, bid: int) -> int:
    """5.5: the block/page signature, from the low 32 bits of its offset and BID."""
    value = (ib ^ bid) & 0xFFFFFFFF
    return (value >> 16) ^ (value & 0xFFFF)


def page_bytes(ptype: int, data: bytes, ib: int, bid: int, sig: int) -> bytes:
    """A 512-byte page and its PAGETRAILER (2.2.2.7.1). Map pages use their offset as BID
    and no signature."""
    data = data.ljust(496, b"\0")
    return data + struct.pack("<BBHIQ", ptype, ptype, sig, crc(data), bid)


@dataclass
class Node:
    """A node (2.2.2.8.3): its data as block payloads, and its subnodes."""

    nid: int
    data: list[bytes]
    subnodes: list[Node] = field(default_factory=list)
    parent: int = 0


class NdbFile:
    """Writes blocks after the AMap and PMap pages, then the two B-trees, then the
    header: blocks are 64-byte aligned (2.2.2.8), pages 512-byte aligned (2.2.2.7)."""

    def __init__(self) -> None:
        self.buffer = bytearray(DATA_AT)
        self.next_bid = 4  # bidIndex 1; BIDs step by 4, bit 1 marks internal blocks
        self.next_page_bid = 4
        self.blocks: list[tuple[int, int, int]] = []  # BBT leaf: bid, ib, cb
        self.nodes: list[tuple[int, int, int, int]] = []  # NBT leaf: nid, data, sub, parent

    def block(self, payload: bytes, internal: bool = False) -> int:
        """2.2.2.8.1: payload, padding, BLOCKTRAILER (cb, wSig, dwCRC, bid)."""
        assert len(payload) <= BLOCK_MAX, len(payload)
        bid = self.next_bid | (2 if internal else 0)
        self.next_bid += 4
        ib = len(self.buffer)
        size = -(-(len(payload) + 16) // 64) * 64
        trailer = struct.pack("<HHIQ", len(payload), signature(ib, bid), crc(payload), bid)
        self.buffer += payload.ljust(size - 16, b"\0") + trailer
        self.blocks.append((bid, ib, len(payload)))
        return bid

    def data_tree(self, payloads: list[bytes]) -> int:
        """One data block, or an XBLOCK listing them (2.2.2.8.3.2.1)."""
        if len(payloads) == 1:
            return self.block(payloads[0])
        bids = [self.block(p) for p in payloads]
        total = sum(len(p) for p in payloads)
        head = struct.pack("<BBHI", 0x01, 1, len(bids), total)
        return self.block(head + struct.pack(f"<{len(bids)}Q", *bids), internal=True)

    def subnode_tree(self, subnodes: list[Node]) -> int:
        """An SLBLOCK of SLENTRY (nid, bidData, bidSub) (2.2.2.8.3.3.1), or 0."""
        if not subnodes:
            return 0
        entries = b"".join(
            struct.pack("<QQQ", n.nid, self.data_tree(n.data), self.subnode_tree(n.subnodes))
            for n in sorted(subnodes, key=lambda n: n.nid)
        )
        return self.block(struct.pack("<BBHI", 0x02, 0, len(subnodes), 0) + entries, True)

    def add(self, node: Node) -> None:
        data, sub = self.data_tree(node.data), self.subnode_tree(node.subnodes)
        self.nodes.append((node.nid, data, sub, node.parent))

    def page(self, ptype: int, data: bytes) -> tuple[int, int]:
        """Appends a B-tree page: returns its BREF (bid, ib)."""
        ib, bid = len(self.buffer), self.next_page_bid
        self.next_page_bid += 4
        self.buffer += page_bytes(ptype, data, ib, bid, signature(ib, bid))
        return bid, ib

    def btree(self, ptype: int, leaves: list[tuple[int, bytes]], leaf_size: int) -> tuple[int, int]:
        """A B-tree of BTPAGEs (2.2.2.7.7) built bottom-up: each level's pages are indexed
        by BTENTRY (btkey, BREF) in the level above. Returns the root's BREF."""
        entries, size, level = sorted(leaves), leaf_size, 0
        while True:
            most = 488 // size
            refs = []
            for start in range(0, len(entries), most):
                chunk = entries[start : start + most]
                body = b"".join(e for _k, e in chunk).ljust(488, b"\0")
                meta = struct.pack("<BBBBI", len(chunk), most, size, level, 0)
                refs.append((chunk[0][0], *self.page(ptype, body + meta)))
            if len(refs) == 1:
                return refs[0][1], refs[0][2]
            entries = [(key, struct.pack("<QQQ", key, bid, ib)) for key, bid, ib in refs]
            size, level = 24, level + 1

    def finish(self, last_nids: list[int]) -> bytes:
        """The B-trees, the allocation map, then the HEADER with its ROOT (2.2.2.6)."""
        self.buffer += bytes(-len(self.buffer) % 512)
        nbt = self.btree(
            PTYPE_NBT,
            [(n, struct.pack("<QQQII", n, d, s, p, 0)) for n, d, s, p in self.nodes],
            32,
        )
        bbt = self.btree(
            PTYPE_BBT,
            [(b, struct.pack("<QQHHI", b, ib, cb, 1, 0)) for b, ib, cb in self.blocks],
            24,
        )
        eof = len(self.buffer)
        used = (eof - AMAP_AT) // 64
        if eof - AMAP_AT > AMAP_SPAN:
            raise ValueError(f"PST de {eof} octets : ce petit écrivain s'arrête à une AMap")
        # AMap (2.2.2.7.2.1): one bit per 64 bytes, all of them used; PMap: all set.
        amap = (((1 << used) - 1) << (-used % 8)).to_bytes(-(-used // 8), "big")
        pmap_at = AMAP_AT + 512
        self.buffer[AMAP_AT:DATA_AT] = page_bytes(
            PTYPE_AMAP, amap, AMAP_AT, AMAP_AT, 0
        ) + page_bytes(PTYPE_PMAP, b"\xff" * 496, pmap_at, pmap_at, 0)
        root = struct.pack(
            "<IQQQQQQQQBBH",
            0,
            eof,
            AMAP_AT,  # ibAMapLast
            AMAP_SPAN - used * 64,  # cbAMapFree
            0,  # cbPMapFree
            *nbt,
            *bbt,
            0x02,  # fAMapValid: VALID_AMAP2
            0,
            0,
        )
        # wMagicClient "SM", wVer 23 (Unicode), wVerClient 19, bPlatformCreate/Access,
        # two reserved, bidUnused, bidNextP, dwUnique; rgnid; qwUnused; ROOT; dwAlign…
        body = (
            struct.pack("<HHHBBIIQQI", 0x4D53, 23, 19, 1, 1, 0, 0, 0, self.next_page_bid, 1)
            + struct.pack("<32I", *last_nids)
            + bytes(8)
            + root
            + bytes(4)
            + b"\xff" * 256  # rgbFM, rgbFP (deprecated)
            + struct.pack("<BBH", 0x80, 0x00, 0)  # bSentinel, bCryptMethod: NDB_CRYPT_NONE
            + struct.pack("<Q", self.next_bid)
        )
        assert len(body) == 516
        header = b"!BDN" + struct.pack("<I", crc(body[:471])) + body + struct.pack("<I", crc(body))
        header += bytes(36)
        self.buffer[: len(header)] = header
        return bytes(self.buffer)


# --------------------------------------------------------------------------- LTP (2.3)

PT_SHORT, PT_LONG, PT_BOOLEAN, PT_LONGLONG = 0x0002, 0x0003, 0x000B, 0x0014
PT_UNICODE, PT_SYSTIME, PT_BINARY = 0x001F, 0x0040, 0x0102
FIXED = {PT_SHORT: "<h", PT_LONG: "<i", PT_BOOLEAN: "<?", PT_LONGLONG: "<q"}
HEAP_VALUE_MAX = 2048  # 3580 is allowed (2.3.3.3); smaller keeps a heap on one block
NID_TYPE_LTP = 0x1F

Value = str | int | bool | bytes | datetime


def encode(tag: int, value: Value) -> bytes:
    """A property value as the PST stores it (2.1.1 in [MS-OXCDATA] for the types)."""
    kind = tag & 0xFFFF
    if kind in FIXED:
        return struct.pack(FIXED[kind], value)
    if kind == PT_SYSTIME:
        assert isinstance(value, datetime)
        delta = value.astimezone(UTC) - datetime(1601, 1, 1, tzinfo=UTC)
        return struct.pack("<Q", (delta.days * 86400 + delta.seconds) * 10**7)
    if kind == PT_UNICODE:
        assert isinstance(value, str)
        return value.encode("utf-16-le")
    assert kind == PT_BINARY and isinstance(value, bytes)
    return value


class Heap:
    """A heap-on-node on one block (2.3.1): HNHDR, allocations, HNPAGEMAP. Values too big
    for it go to subnodes of the node."""

    def __init__(self, client_signature: int, first_subnode: int) -> None:
        self.client_signature = client_signature
        self.items: list[bytes] = []
        self.subnodes: list[Node] = []
        self.next_subnode = first_subnode

    def alloc(self, data: bytes) -> int:
        """HID: hidType 0, hidIndex (1-based), hidBlockIndex 0 (2.3.1.1)."""
        self.items.append(data)
        return len(self.items) << 5

    def hnid(self, data: bytes, row_size: int = 0) -> int:
        """An HID, or a subnode NID for what is big (2.3.3.2); table rows never straddle
        two blocks (2.3.4.4)."""
        if len(data) <= HEAP_VALUE_MAX:
            return self.alloc(data)
        step = BLOCK_MAX // row_size * row_size if row_size else BLOCK_MAX
        nid = (self.next_subnode << 5) | NID_TYPE_LTP
        self.next_subnode += 1
        self.subnodes.append(Node(nid, [data[i : i + step] for i in range(0, len(data), step)]))
        return nid

    def bth(self, key_size: int, entry_size: int, records: list[tuple[bytes, bytes]]) -> int:
        """A BTH (2.3.2) with all its records in one leaf: BTHHEADER's HID."""
        leaf = b"".join(k + v for k, v in sorted(records))
        assert len(leaf) <= 3580, "a BTH over one leaf is not written here"
        root = self.alloc(leaf) if records else 0
        return self.alloc(struct.pack("<BBBBI", 0xB5, key_size, entry_size, 0, root))

    def node(self, nid: int, user_root: int, parent: int = 0) -> Node:
        body = b"".join(self.items)
        offsets = [12]
        for item in self.items:
            offsets.append(offsets[-1] + len(item))
        pad = len(body) % 2  # HNPAGEMAP on an even offset
        page_map = struct.pack(f"<HH{len(offsets)}H", len(self.items), 0, *offsets)
        head = struct.pack(
            "<HBBII", 12 + len(body) + pad, 0xEC, self.client_signature, user_root, 0
        )
        return Node(nid, [head + body + bytes(pad) + page_map], self.subnodes, parent)


def property_context(nid: int, props: dict[int, Value], parent: int = 0) -> Node:
    """A PC (2.3.3): a BTH of (wPropId → wPropType, dwValueHnid); values of 4 bytes or
    less inline, others in the heap."""
    heap = Heap(0xBC, 0x400)
    records = []
    for tag, value in props.items():
        data = encode(tag, value)
        if not data and tag & 0xFFFF == PT_UNICODE:
            continue  # an empty name: no property at all
        if (tag & 0xFFFF) in FIXED and len(data) <= 4:
            cell = data.ljust(4, b"\0")
        else:
            cell = struct.pack("<I", heap.hnid(data))
        records.append((struct.pack("<H", tag >> 16), struct.pack("<H", tag & 0xFFFF) + cell))
    return heap.node(nid, heap.bth(2, 6, records), parent)


PR_LTP_ROW_ID, PR_LTP_ROW_VER = 0x67F20003, 0x67F30003


def cell_size(tag: int) -> int:
    kind = tag & 0xFFFF
    return {PT_SHORT: 2, PT_BOOLEAN: 1, PT_LONGLONG: 8, PT_SYSTIME: 8}.get(kind, 4)


def table_context(nid: int, columns: list[int], rows: list[dict[int, Value]]) -> Node:
    """A TC (2.3.4): TCINFO, a row index BTH (dwRowID → dwRowIndex) and the row matrix.
    Rows hold 8/4-byte cells first (row id and version leading), then 2-byte, then
    1-byte cells, then the cell existence bitmap; strings and binaries are HNIDs."""
    heap = Heap(0x7C, 0x400)
    tags = [PR_LTP_ROW_ID, PR_LTP_ROW_VER] + sorted(set(columns) - {PR_LTP_ROW_ID, PR_LTP_ROW_VER})
    layout = sorted(tags, key=lambda t: (-min(cell_size(t), 4), t not in tags[:2]))
    offsets, at, ends = {}, 0, []
    for width in (4, 2, 1):
        for tag in layout:
            if min(cell_size(tag), 4) == width:
                offsets[tag], at = at, at + cell_size(tag)
        ends.append(at)
    bitmap = -(-len(tags) // 8)
    row_size = at + bitmap
    bits = {tag: index for index, tag in enumerate(layout)}
    matrix = bytearray()
    for values in rows:
        row = bytearray(row_size)
        for tag, value in values.items():
            data = encode(tag, value)
            if not data:
                continue
            if cell_size(tag) == 4 and (tag & 0xFFFF) not in FIXED:
                data = struct.pack("<I", heap.hnid(data))
            row[offsets[tag] : offsets[tag] + len(data)] = data
            row[at + bits[tag] // 8] |= 0x80 >> (bits[tag] % 8)
        matrix += row
    index = heap.bth(
        4,
        4,
        [(struct.pack("<I", r[PR_LTP_ROW_ID]), struct.pack("<I", i)) for i, r in enumerate(rows)],
    )
    hnid_rows = heap.hnid(bytes(matrix), row_size) if rows else 0
    descriptions = b"".join(
        struct.pack("<IHBB", tag, offsets[tag], cell_size(tag), bits[tag]) for tag in tags
    )
    info = (
        struct.pack("<BB4HIII", 0x7C, len(tags), *ends, row_size, index, hnid_rows, 0)
        + descriptions
    )
    return heap.node(nid, heap.alloc(info))


# --------------------------------------------------------------------------- messaging (2.4)

NID_MESSAGE_STORE, NID_NAME_TO_ID_MAP, NID_ROOT_FOLDER = 0x21, 0x61, 0x122
NID_ATTACHMENT_TABLE, NID_RECIPIENT_TABLE = 0x671, 0x692
NID_TYPE_FOLDER, NID_TYPE_MESSAGE, NID_TYPE_ATTACHMENT = 0x02, 0x04, 0x05
HIERARCHY, CONTENTS, ASSOC_CONTENTS = 0x0D, 0x0E, 0x0F  # table NID types of a folder

PR_MESSAGE_CLASS, PR_SUBJECT, PR_CLIENT_SUBMIT_TIME = 0x001A001F, 0x0037001F, 0x00390040
PR_SENT_REPRESENTING_NAME, PR_SENT_REPRESENTING_ADDRTYPE = 0x0042001F, 0x0064001F
PR_SENT_REPRESENTING_EMAIL = 0x0065001F
PR_SENDER_NAME, PR_SENDER_ADDRTYPE, PR_SENDER_EMAIL = 0x0C1A001F, 0x0C1E001F, 0x0C1F001F
PR_RECIPIENT_TYPE, PR_DISPLAY_TO = 0x0C150003, 0x0E04001F
PR_MESSAGE_DELIVERY_TIME, PR_MESSAGE_FLAGS, PR_MESSAGE_SIZE = 0x0E060040, 0x0E070003, 0x0E080003
PR_ATTACH_SIZE, PR_RECORD_KEY, PR_BODY, PR_HTML = 0x0E200003, 0x0FF90102, 0x1000001F, 0x10130102
PR_TRANSPORT_MESSAGE_HEADERS, PR_ICON_INDEX = 0x007D001F, 0x10800003
PR_LAST_VERB_EXECUTED, PR_FLAG_STATUS = 0x10810003, 0x10900003
PR_CREATION_TIME, PR_LAST_MODIFICATION_TIME = 0x30070040, 0x30080040
PR_DISPLAY_NAME, PR_ADDRTYPE, PR_EMAIL_ADDRESS = 0x3001001F, 0x3002001F, 0x3003001F
PR_VALID_FOLDER_MASK, PR_IPM_SUBTREE_ENTRYID = 0x35DF0003, 0x35E00102
PR_CONTENT_COUNT, PR_CONTENT_UNREAD, PR_SUBFOLDERS = 0x36020003, 0x36030003, 0x360A000B
PR_CONTAINER_CLASS, PR_ATTACH_DATA_BIN, PR_ATTACH_FILENAME = 0x3613001F, 0x37010102, 0x3704001F
PR_ATTACH_METHOD, PR_ATTACH_LONG_FILENAME = 0x37050003, 0x3707001F
PR_RENDERING_POSITION, PR_ATTACH_MIME_TAG, PR_SMTP_ADDRESS = 0x370B0003, 0x370E001F, 0x39FE001F
PR_NAMEID_BUCKET_COUNT, PR_NAMEID_STREAM_GUID = 0x00010003, 0x00020102
PR_NAMEID_STREAM_ENTRY, PR_NAMEID_STREAM_STRING = 0x00030102, 0x00040102
PSETID_COMMON, PID_LID_REMINDER_SET = uuid.UUID("00062008-0000-0000-c000-000000000046"), 0x8503

MSGFLAG_READ, MSGFLAG_UNSENT, MSGFLAG_HASATTACH = 0x01, 0x08, 0x10
VERB_REPLY_TO_SENDER, VERB_FORWARD = 102, 104
ICON_REPLIED, ICON_FORWARDED = 0x105, 0x106
FLAG_STATUS_FLAGGED = 2

FOLDER_COLUMNS = [PR_DISPLAY_NAME, PR_CONTENT_COUNT, PR_CONTENT_UNREAD, PR_SUBFOLDERS]
CONTENTS_COLUMNS = [
    PR_MESSAGE_CLASS, PR_SUBJECT, PR_CLIENT_SUBMIT_TIME, PR_SENT_REPRESENTING_NAME,
    PR_DISPLAY_TO, PR_MESSAGE_DELIVERY_TIME, PR_MESSAGE_FLAGS, PR_MESSAGE_SIZE,
]  # fmt: skip
RECIPIENT_COLUMNS = [
    PR_RECIPIENT_TYPE, PR_DISPLAY_NAME, PR_ADDRTYPE, PR_EMAIL_ADDRESS, PR_SMTP_ADDRESS,
]  # fmt: skip
ATTACHMENT_COLUMNS = [
    PR_ATTACH_SIZE, PR_ATTACH_LONG_FILENAME, PR_ATTACH_METHOD, PR_RENDERING_POSITION,
]  # fmt: skip


@dataclass
class Attachment:
    filename: str
    data: bytes
    mime_type: str = "application/octet-stream"


@dataclass
class Message:
    """An e-mail as Outlook keeps it. `received`: delivery time (None for what was sent
    or never sent); `verb`: 102 replied, 104 forwarded."""

    subject: str
    sender: tuple[str, str]
    to: list[tuple[str, str]]
    body: str
    date: datetime
    received: datetime | None = None
    html: str | None = None
    read: bool = True
    draft: bool = False
    flagged: bool = False
    verb: int | None = None
    headers: str | None = None  # the internet headers it was received with
    attachments: list[Attachment] = field(default_factory=list)

    def flags(self) -> int:
        return (
            (MSGFLAG_READ if self.read else 0)
            | (MSGFLAG_UNSENT if self.draft else 0)
            | (MSGFLAG_HASATTACH if self.attachments else 0)
        )

    @property
    def delivered(self) -> datetime:
        """When it arrived in the store: received, sent, or last saved (a draft)."""
        return self.received or self.date


@dataclass
class Folder:
    name: str
    messages: list[Message] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)


def entry_id(store_uid: bytes, nid: int) -> bytes:
    """2.4.3.2: rgbFlags, the store's provider UID, the NID."""
    return bytes(4) + store_uid + struct.pack("<I", nid)


class StoreWriter:
    """The messaging layer: turns folders and messages into nodes."""

    def __init__(self) -> None:
        self.ndb = NdbFile()
        self.next_folder = 0x401  # Outlook numbers folders and messages from here on
        self.next_message = 0x10000

    def folder(self, folder: Folder, nid: int, parent: int) -> dict[int, Value]:
        """A folder's PC and its three tables (2.4.4); returns its hierarchy table row."""
        children = []
        for sub in folder.folders:
            sub_nid = (self.next_folder << 5) | NID_TYPE_FOLDER
            self.next_folder += 1
            children.append(self.folder(sub, sub_nid, nid))
        rows = [self.message(m, nid) for m in folder.messages]
        props: dict[int, Value] = {
            PR_DISPLAY_NAME: folder.name,
            PR_CONTENT_COUNT: len(folder.messages),
            PR_CONTENT_UNREAD: sum(not m.read for m in folder.messages),
            PR_SUBFOLDERS: bool(folder.folders),
        }
        self.ndb.add(property_context(nid, {**props, PR_CONTAINER_CLASS: "IPF.Note"}, parent))
        base = nid & ~0x1F
        self.ndb.add(table_context(base | HIERARCHY, FOLDER_COLUMNS, children))
        self.ndb.add(table_context(base | CONTENTS, CONTENTS_COLUMNS, rows))
        self.ndb.add(table_context(base | ASSOC_CONTENTS, CONTENTS_COLUMNS, []))
        return {PR_LTP_ROW_ID: nid, PR_LTP_ROW_VER: 1, **props}

    def message(self, message: Message, folder_nid: int) -> dict[int, Value]:
        """A message's PC, recipient table and attachments (2.4.5); returns its contents
        table row."""
        nid = (self.next_message << 5) | NID_TYPE_MESSAGE
        self.next_message += 1
        name, address = message.sender
        summary: dict[int, Value] = {
            PR_MESSAGE_CLASS: "IPM.Note",
            PR_SUBJECT: message.subject,
            PR_SENT_REPRESENTING_NAME: name,
            PR_DISPLAY_TO: "; ".join(n for n, _a in message.to),
            PR_MESSAGE_FLAGS: message.flags(),
            PR_MESSAGE_SIZE: len(message.body) * 2 + sum(len(a.data) for a in message.attachments),
        }
        if not message.draft:  # a draft has only its creation and last change times
            summary[PR_CLIENT_SUBMIT_TIME] = message.date
            summary[PR_MESSAGE_DELIVERY_TIME] = message.delivered
        props: dict[int, Value] = {
            **summary,
            PR_SENT_REPRESENTING_ADDRTYPE: "SMTP",
            PR_SENT_REPRESENTING_EMAIL: address,
            PR_SENDER_NAME: name,
            PR_SENDER_ADDRTYPE: "SMTP",
            PR_SENDER_EMAIL: address,
            PR_BODY: message.body,
            PR_CREATION_TIME: message.delivered,
            PR_LAST_MODIFICATION_TIME: message.delivered,
        }
        if message.html is not None:
            props[PR_HTML] = message.html.encode()
        if message.headers:
            props[PR_TRANSPORT_MESSAGE_HEADERS] = message.headers
        if message.flagged:
            props[PR_FLAG_STATUS] = FLAG_STATUS_FLAGGED
        if message.verb:
            props[PR_LAST_VERB_EXECUTED] = message.verb
            props[PR_ICON_INDEX] = ICON_FORWARDED if message.verb == VERB_FORWARD else ICON_REPLIED
        recipients = [
            {
                PR_LTP_ROW_ID: index,
                PR_LTP_ROW_VER: 1,
                PR_RECIPIENT_TYPE: 1,  # MAPI_TO
                PR_DISPLAY_NAME: who,
                PR_ADDRTYPE: "SMTP",
                PR_EMAIL_ADDRESS: where,
                PR_SMTP_ADDRESS: where,
            }
            for index, (who, where) in enumerate(message.to)
        ]
        node = property_context(nid, props, folder_nid)
        node.subnodes.append(table_context(NID_RECIPIENT_TABLE, RECIPIENT_COLUMNS, recipients))
        if message.attachments:
            rows, objects = [], []
            for index, attachment in enumerate(message.attachments):
                attach_nid = ((0x400 + index) << 5) | NID_TYPE_ATTACHMENT
                row: dict[int, Value] = {
                    PR_LTP_ROW_ID: attach_nid,
                    PR_LTP_ROW_VER: 1,
                    PR_ATTACH_SIZE: len(attachment.data),
                    PR_ATTACH_LONG_FILENAME: attachment.filename,
                    PR_ATTACH_METHOD: 1,  # ATTACH_BY_VALUE
                    PR_RENDERING_POSITION: -1,
                }
                rows.append(row)
                extra: dict[int, Value] = {
                    PR_ATTACH_DATA_BIN: attachment.data,
                    PR_ATTACH_FILENAME: attachment.filename,
                    PR_DISPLAY_NAME: attachment.filename,
                    PR_ATTACH_MIME_TAG: attachment.mime_type,
                }
                shown = {k: v for k, v in row.items() if k not in (PR_LTP_ROW_ID, PR_LTP_ROW_VER)}
                objects.append(property_context(attach_nid, {**shown, **extra}))
            node.subnodes.append(table_context(NID_ATTACHMENT_TABLE, ATTACHMENT_COLUMNS, rows))
            node.subnodes.extend(objects)
        self.ndb.add(node)
        return {PR_LTP_ROW_ID: nid, PR_LTP_ROW_VER: 1, **summary}


def write_pst(
    path: Path,
    display_name: str,
    folders: list[Folder],
    top_name: str = "Haut de la banque d'informations",
) -> None:
    """A PST holding `folders` under the top of the personal folders (2.4.1): the
    message store, the name-to-id map, the root folder and the top folder."""
    writer = StoreWriter()
    store_uid = bytes(range(0x10, 0x20))
    top = (writer.next_folder << 5) | NID_TYPE_FOLDER  # the root's first subfolder
    store = {
        PR_RECORD_KEY: store_uid,
        PR_DISPLAY_NAME: display_name,
        PR_VALID_FOLDER_MASK: 0x01,  # FOLDER_IPM_SUBTREE_VALID
        PR_IPM_SUBTREE_ENTRYID: entry_id(store_uid, top),
    }
    writer.ndb.add(property_context(NID_MESSAGE_STORE, store))
    names: dict[int, Value] = {
        PR_NAMEID_BUCKET_COUNT: 251,
        PR_NAMEID_STREAM_GUID: PSETID_COMMON.bytes_le,
        # NAMEID (2.4.7.1): dwPropertyID, N = 0 (numeric) with wGuid 3 (the first GUID
        # of the stream), wPropIdx 0 (property 0x8000). libpff wants one entry at least.
        PR_NAMEID_STREAM_ENTRY: struct.pack("<IHH", PID_LID_REMINDER_SET, 3 << 1, 0),
        PR_NAMEID_STREAM_STRING: b"",
    }
    writer.ndb.add(property_context(NID_NAME_TO_ID_MAP, names))
    writer.folder(
        Folder("", folders=[Folder(top_name, folders=folders)]), NID_ROOT_FOLDER, NID_ROOT_FOLDER
    )
    last_nids = [0x400] * 32  # rgnid: the last nidIndex given, per NID type
    last_nids[NID_TYPE_FOLDER] = writer.next_folder - 1
    last_nids[NID_TYPE_MESSAGE] = writer.next_message - 1
    path.write_bytes(writer.ndb.finish(last_nids))
