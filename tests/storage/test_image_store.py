"""The picture folder: one file per content, thumbnails beside, names checked, the sweep that
keeps what messages name (and what is too young to judge), and pictures carried by a JSON
export and checked on import."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from desktop.core.messages import Role
from desktop.core.parts import Text
from desktop.services.library import ChatLibrary
from desktop.storage.image_export import ImageImportError, restore_images
from desktop.storage.images import ImageStore, image_name
from desktop.storage.store import ChatStore


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


def age(store: ImageStore, name: str, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(store.path(name), (old, old))


def test_the_same_picture_is_stored_once_under_its_hash(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    data = png((255, 0, 0))
    first = store.put(data, "image/png", alt="a.png", width=8, height=8, thumbnail=png((1, 1, 1)))
    again = store.put(data, "image/png", alt="b.png")
    assert first.path == again.path == image_name(data, "image/png")
    assert store.names() == {first.path}
    assert store.read(first.path) == data
    assert store.thumb_path(first.path).is_file()
    assert (first.alt, first.size) == ("a.png", len(data))


def test_names_that_are_not_ours_are_refused(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    assert not store.has("../../etc/passwd")
    with pytest.raises(Exception, match="not the name of a stored image"):
        store.read("../secret.png")


def test_the_sweep_keeps_named_and_young_pictures(tmp_path: Path) -> None:
    chats = ChatStore(tmp_path / "history.db")
    store = ImageStore(tmp_path / "images")
    kept = store.put(png((1, 2, 3)), "image/png", alt="kept.png")
    orphan = store.put(png((4, 5, 6)), "image/png", alt="orphan.png", thumbnail=png((0, 0, 0)))
    young = store.put(png((7, 8, 9)), "image/png", alt="young.png")
    chat = chats.create_conversation()
    chats.add_message(chat.id, Role.USER, parts=(kept, Text("look")))
    for name in (kept.path, orphan.path):
        age(store, name, 3 * 24 * 3600)
    assert chats.image_names_in_use() == {kept.path}
    library = ChatLibrary(chats, store)
    assert library.sweep_images() == 1
    assert store.names() == {kept.path, young.path}
    assert not store.thumb_path(orphan.path).exists()
    # Deleting the chat for good lets its picture go (once it is old enough).
    library.delete(chat.id)
    assert library.purge_deleted() == 1  # the chat, and with it the sweep
    assert store.names() == {young.path}


def test_a_json_export_carries_its_pictures_and_an_import_checks_them(tmp_path: Path) -> None:
    chats = ChatStore(tmp_path / "a.db")
    pictures = ImageStore(tmp_path / "a-images")
    picture = pictures.put(png((9, 9, 9)), "image/png", alt="chart.png")
    chat = chats.create_conversation()
    chats.add_message(chat.id, Role.USER, parts=(picture, Text("what does it show?")))
    export = tmp_path / "chats.json"
    ChatLibrary(chats, pictures).export(export, [chat.id])

    other = ChatStore(tmp_path / "b.db")
    elsewhere = ImageStore(tmp_path / "b-images")
    [new_id] = ChatLibrary(other, elsewhere).import_file(export)
    [question] = other.messages(new_id)
    assert question.parts[0] == picture
    assert elsewhere.read(picture.path) == pictures.read(picture.path)

    import json

    data = json.loads(export.read_text())
    entry = data["images"][picture.path]
    entry["data"] = entry["data"][:-8] + "AAAAAAA="
    with pytest.raises(ImageImportError, match="damaged"):
        restore_images(data, ImageStore(tmp_path / "c-images"))
