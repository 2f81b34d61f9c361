"""hero_ros building blocks without a running node: camera message conversion, the frame buffer's window rule, the
trigger queue, the human target's joint angles, the output messages, the parameter table and the launch file."""
import math
import py_compile
import runpy
import tempfile
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import yaml

from hero_model.motion import JOINT_NAMES, joints_to_features
from hero_model.synth.motions import make_motion
from hero_model.video.sampling import segment_indices
from hero_ros import params
from hero_ros.frame_buffer import FrameBuffer, NotReady, classify_stamp
from hero_ros.human_target import DOF_NAMES, bone_lengths, joint_positions_from_dofs, solve_human
from hero_ros.image_input import (RAW_ENCODINGS, ImageInputError, compressed_from_rgb, compressed_to_rgb,
                                  image_from_rgb, image_to_rgb, message_to_rgb)
from hero_ros.messages import (add_seconds, joint_trajectory_message, reaction_arrays, reaction_message,
                               seconds_to_stamp, stamp_to_seconds)
from hero_ros.triggers import PeriodicTrigger, Reply, Request, RequestSlot, SceneChangeTrigger, parse_trigger

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ image input

@pytest.fixture(scope="module")
def smooth_rgb():
    """A 48x64 frame whose colours vary slowly (chroma subsampling and JPEG barely change it)."""
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([x * 3 + 20, y * 4 + 10, 200 - x - y], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_give_the_exact_frame_with_row_padding(smooth_rgb, encoding):
    msg = image_from_rgb(smooth_rgb, encoding, row_padding=5)
    assert msg.step == 64 * RAW_ENCODINGS[encoding][0] + 5
    np.testing.assert_array_equal(image_to_rgb(msg), smooth_rgb)


def test_mono8_gives_the_grey_frame_on_three_channels(smooth_rgb):
    grey = cv2.cvtColor(smooth_rgb, cv2.COLOR_RGB2GRAY)
    out = image_to_rgb(image_from_rgb(smooth_rgb, "mono8"))
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=-1))


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422_variants_give_the_frame_within_chroma_rounding(smooth_rgb, encoding):
    out = image_to_rgb(image_from_rgb(smooth_rgb, encoding, row_padding=2))
    assert out.shape == smooth_rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - smooth_rgb).max() <= 4        # 4:2:2 + 8-bit YUV rounding on a smooth image


def test_yuv422_byte_orders_are_the_ones_cv_bridge_uses():
    """A 2-pixel row: UYVY is U Y0 V Y1 (ROS 'yuv422'), YUYV is Y0 U Y1 V ('yuv422_yuy2'). Neutral chroma (128)
    leaves grey pixels whose brightness follows Y, so swapping the byte order shows up as wrong brightness."""
    from sensor_msgs.msg import Image

    def decode(encoding, data):
        msg = Image(height=1, width=2, encoding=encoding, step=4)
        msg.data = bytes(data)
        return image_to_rgb(msg)[0, :, 0].astype(int)             # red channel of both pixels

    dark_then_bright = {"yuv422": [128, 40, 128, 220], "uyvy": [128, 40, 128, 220],
                        "yuv422_yuy2": [40, 128, 220, 128], "yuyv": [40, 128, 220, 128]}
    for encoding, data in dark_then_bright.items():
        red = decode(encoding, data)
        assert red[0] < 60 and red[1] > 200, (encoding, red)


@pytest.mark.parametrize("fmt, tolerance", [("jpeg", 3.0), ("png", 0.0)])
def test_compressed_jpeg_and_png_give_the_frame(smooth_rgb, fmt, tolerance):
    msg = compressed_from_rgb(smooth_rgb, fmt, quality=95)
    out = message_to_rgb(msg)
    assert out.shape == smooth_rgb.shape
    assert np.abs(out.astype(float) - smooth_rgb).mean() <= tolerance
    msg.format = "rgb8; jpeg compressed bgr8" if fmt == "jpeg" else "rgb8; png compressed bgr8"  # image_transport
    np.testing.assert_array_equal(compressed_to_rgb(msg), out)


def test_sixteen_bit_big_endian_is_scaled_to_eight_bit():
    from sensor_msgs.msg import Image

    msg = Image(height=1, width=2, encoding="mono16", step=4, is_bigendian=1)
    msg.data = np.array([[0, 65535]], dtype=">u2").tobytes()
    np.testing.assert_array_equal(image_to_rgb(msg)[0, :, 0], [0, 255])


def _raw(encoding="rgb8", height=4, width=6, step=None, data=None):
    from sensor_msgs.msg import Image

    bpp = RAW_ENCODINGS.get(encoding, (3, 1))[0]
    msg = Image(height=height, width=width, encoding=encoding, step=width * bpp if step is None else step)
    msg.data = bytes(height * width * bpp) if data is None else data
    return msg


@pytest.mark.parametrize("msg, words", [
    (_raw(data=bytes(71)), "data has 71 bytes, expected step 18 x height 4 = 72"),
    (_raw(encoding="8UC3"), "unknown image encoding '8UC3'"),
    (_raw(encoding="hsv8"), "unknown image encoding 'hsv8'"),
    (_raw(data=b""), "empty rgb8 image"),
    (_raw(height=0, width=0, data=b""), "empty rgb8 image: 0x0"),
    (_raw(step=10), "step 10 is shorter than a row"),
    (_raw(encoding="yuv422", width=5, step=10, data=bytes(40)), "odd width 5"),
])
def test_bad_raw_images_raise_a_clear_error(msg, words):
    with pytest.raises(ImageInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        image_to_rgb(msg)


def test_bad_compressed_images_raise_a_clear_error(smooth_rgb):
    good = compressed_from_rgb(smooth_rgb, "jpeg")

    def variant(fmt=None, data=None):
        msg = compressed_from_rgb(smooth_rgb, "jpeg")
        if fmt is not None:
            msg.format = fmt
        if data is not None:
            msg.data = data
        return msg

    jpeg = bytes(good.data)
    cases = {
        "empty compressed image": variant(data=b""),
        "without the end-of-image marker": variant(data=jpeg[: len(jpeg) // 2]),
        "corrupt jpeg: OpenCV cannot decode": variant(data=jpeg[:20] + bytes(200) + b"\xff\xd9"),
        "neither JPEG nor PNG": variant(data=b"GIF89a" + bytes(50)),
        "format says png but the data is jpeg": variant(fmt="png"),
        "unsupported compressed format 'tiff'": variant(fmt="tiff"),
        "depth image": variant(fmt="16UC1; compressedDepth png"),
    }
    for words, msg in cases.items():
        with pytest.raises(ImageInputError, match=words):
            compressed_to_rgb(msg)


# ------------------------------------------------------------------------------------------------ frame buffer

def _indexed_buffer(stamps, horizon_s=20.0):
    """Features that are the frame numbers, so v_l tells which frames were sampled."""
    buffer = FrameBuffer(horizon_s)
    buffer.add(stamps, torch.arange(len(stamps), dtype=torch.float32)[:, None], tags=[f"t{i}" for i in
                                                                                         range(len(stamps))])
    return buffer


@pytest.mark.parametrize("n, fps", [(40, 20.0), (93, 20.0), (45, 30.0), (16, 15.0), (150, 25.0)])
def test_window_of_a_whole_clip_samples_the_batch_paths_frames(n, fps):
    """Frames t0 + i / fps and window_s = n / fps: the same 16 frames as segment_indices(n) (hero_model.generate)."""
    buffer = _indexed_buffer(1.7e9 + np.arange(n) / fps)
    window = buffer.window(n / fps, min_frames=1)
    np.testing.assert_array_equal(window.v_l[:, 0].numpy(), segment_indices(n, 16))
    assert window.num_frames == n and window.first_tag == "t0" and window.last_tag == f"t{n - 1}"


def test_window_takes_the_latest_frames_and_never_frames_before_it():
    stamps = 100.0 + np.arange(200) / 20.0                               # 10 s at 20 fps
    window = _indexed_buffer(stamps).window(2.0, min_frames=16)
    chosen = window.v_l[:, 0].numpy()
    np.testing.assert_array_equal(chosen, 160 + segment_indices(40, 16))  # the last 40 frames
    assert window.num_frames == 40 and window.first_stamp == pytest.approx(stamps[160])
    # a stream that started half a window ago: early centres take the first frame of the window
    late = _indexed_buffer(stamps[:10]).window(1.0, min_frames=1)
    assert late.v_l[:, 0].min() == 0 and (np.diff(late.v_l[:, 0].numpy()) >= 0).all()


def test_window_refuses_too_little_video_with_the_reason():
    buffer = FrameBuffer(5.0)
    with pytest.raises(NotReady, match="no frames buffered"):
        buffer.window(2.0)
    buffer.add(np.arange(5) / 20.0, torch.zeros(5, 3))
    with pytest.raises(NotReady, match="only 5 frames .* need 16"):
        buffer.window(2.0, min_frames=16)
    with pytest.raises(NotReady, match="cover 0.25 s of the 2 s window"):
        buffer.window(2.0, min_frames=1, min_coverage=0.5)
    assert buffer.window(2.0, min_frames=5, min_coverage=0.1).num_frames == 5
    sparse = FrameBuffer(20.0)                   # frames 3 s apart (a lossy link): none in the 2 s window
    sparse.add(np.arange(3) * 3.0, torch.zeros(3, 3))
    with pytest.raises(NotReady, match="only 0 frames"):
        sparse.window(2.0, min_frames=1)


def test_buffer_evicts_by_time_and_refuses_disordered_stamps():
    buffer = FrameBuffer(horizon_s=1.0)
    buffer.add(np.arange(100) / 10.0, torch.zeros(100, 2))              # 10 s at 10 Hz
    oldest, newest = buffer.span()
    assert newest == pytest.approx(9.9) and oldest == pytest.approx(8.9) and len(buffer) == 11
    with pytest.raises(ValueError, match="later than"):
        buffer.add([9.9], torch.zeros(1, 2))
    assert classify_stamp(10.0, 9.9) == "ok" and classify_stamp(9.9, 9.9) == "duplicate"
    assert classify_stamp(3.0, 9.9) == "backwards" and classify_stamp(1.0, None) == "ok"


# ------------------------------------------------------------------------------------------------ triggers

def test_trigger_modes_are_parsed_and_bad_ones_named():
    assert parse_trigger("periodic,scene_change") == {"periodic", "scene_change"}
    assert parse_trigger("service") == {"service"}
    for bad, words in (("", "comma-separated"), ("periodic,,", "comma-separated"), ("sometimes", "sometimes")):
        with pytest.raises(ValueError, match=words):
            parse_trigger(bad)


def test_newer_request_supersedes_a_queued_one_but_never_a_waiting_service_call():
    slot = RequestSlot()
    periodic = Request("periodic", None, None, frame_seq=1)
    assert slot.submit(periodic) is None
    newer = Request("scene_change", None, None, frame_seq=2)
    assert slot.submit(newer) is periodic                                # stale automatic request replaced
    first_call = Request("service", 40, 1, frame_seq=3, reply=Reply())
    assert slot.submit(first_call) is newer
    automatic = Request("periodic", None, None, frame_seq=4)
    assert slot.submit(automatic) is automatic                           # refused: a caller is waiting
    second_call = Request("service", 40, 2, frame_seq=5, reply=Reply())
    assert slot.submit(second_call) is first_call
    assert first_call.reply.wait(0.1) and not first_call.reply.success
    assert "superseded by a newer service request" in first_call.reply.message
    assert slot.take(0.1) is second_call and slot.take(0.01) is None and slot.superseded == 4


def test_a_reply_keeps_its_first_answer_and_wakes_its_waiter_once():
    woken = []
    reply = Reply(on_set=lambda: woken.append(True))
    assert not reply.done and not reply.wait(0.01)
    assert reply.set(False, "no reaction within service_timeout_s=1 s")
    assert not reply.set(True, "generated late", reaction="late")            # the caller has been answered
    assert reply.done and not reply.success and reply.reaction is None and "service_timeout_s" in reply.message
    assert woken == [True]


def test_the_node_answers_a_call_past_its_timeout_and_leaves_the_others_waiting():
    import threading
    from types import SimpleNamespace

    from hero_ros.react_node import ReactNode

    late, on_time, answered = Reply(), Reply(), Reply()
    answered.set(True, "done")
    node = SimpleNamespace(_waiting=[(10.0, 2.0, late), (13.0, 5.0, on_time), (9.0, 1.0, answered)],
                           _waiting_lock=threading.Lock())
    ReactNode._expire_waiting_calls(node, now=11.0)
    assert late.done and not late.success and late.message == "no reaction within service_timeout_s=2 s"
    assert not on_time.done and answered.message == "done"
    assert node._waiting == [(13.0, 5.0, on_time)]


def test_periodic_and_scene_change_triggers():
    periodic = PeriodicTrigger(2.0)
    assert periodic.due(0.0)
    periodic.mark(0.0)
    assert not periodic.due(1.9) and periodic.due(2.0)
    scene = SceneChangeTrigger(threshold=0.2, cooldown_s=1.0)
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert not scene.update(a, 0.0)                                      # defines the scene
    assert not scene.update(a * 3, 0.5) and scene.last_distance == pytest.approx(0.0, abs=1e-6)
    assert scene.update(b, 1.5) and scene.last_distance == pytest.approx(1.0)
    scene.rebase(b, 1.5)
    assert not scene.update(a, 2.0)                                      # changed, but within the cool-down
    assert scene.update(a, 2.6)


# ------------------------------------------------------------------------------------------------ human target

@pytest.fixture(scope="module")
def library_features():
    return {name: joints_to_features(make_motion(name, np.random.default_rng(0))) for name in
            ("wave_back", "raise_hands", "kick_away", "turn_away", "crouch_protect")}


def test_joint_angles_reproduce_the_generated_joints(library_features):
    for name, features in library_features.items():
        motion = solve_human(features)
        assert motion.dof_positions.shape == (len(features), 63) and len(DOF_NAMES) == 63
        rebuilt = joint_positions_from_dofs(motion.dof_positions, motion.root_positions, motion.root_yaw,
                                            bone_lengths(motion.joints))
        np.testing.assert_allclose(rebuilt, motion.joints, atol=1e-9, err_msg=name)


def test_joint_angles_are_zero_at_rest_and_continuous(library_features):
    """No jumps: a DOF never moves more per frame than 2.5x the fastest bone (a joint angle is relative, so it may
    reach parent + child motion, < 2x). A from-rest swing (arms overhead) or an Euler order that locks at 90 deg of
    flexion makes steps of 3-4x on these motions."""
    from hero_model.motion import PARENTS, rest_pose

    rest = np.repeat(rest_pose()[None], 5, axis=0)
    np.testing.assert_allclose(solve_human(joints_to_features(rest)).dof_positions, 0.0, atol=1e-9)
    for name, features in library_features.items():
        motion = solve_human(features)
        n = len(features)
        body = np.concatenate([np.stack([np.zeros(n), features[:, 3], np.zeros(n)], -1)[:, None],
                               features[:, 4:67].reshape(n, 21, 3)], axis=1)          # heading-free joints
        bones = body[:, 1:] - body[:, list(PARENTS[1:])]
        bones /= np.linalg.norm(bones, axis=-1, keepdims=True)
        bone_step = np.arccos(np.clip((bones[1:] * bones[:-1]).sum(-1), -1, 1)).max()
        angle_step = np.abs(np.diff(motion.dof_positions, axis=0)).max()
        assert angle_step <= 2.5 * bone_step, (name, angle_step, bone_step)
        assert np.all(motion.dof_velocities[-1] == 0.0)


def test_root_yaw_follows_the_body_facing(library_features):
    """The yaw is the heading the features encode: HumanML3D's facing direction smoothed over +-20 frames, so it
    lags the hips during a fast turn and agrees once the body settles."""
    motion = solve_human(library_features["turn_away"])
    left = motion.joints[:, JOINT_NAMES.index("left_hip")] - motion.joints[:, JOINT_NAMES.index("right_hip")]
    facing = np.unwrap(np.arctan2(-left[:, 0], left[:, 1]))              # forward = left turned by -90 deg about z
    error = np.angle(np.exp(1j * (motion.root_yaw - facing)))
    turn = motion.root_yaw[-1] - motion.root_yaw[0]
    assert abs(turn) > 2.0 and abs(turn - (facing[-1] - facing[0])) < 0.1
    assert np.abs(error[-10:]).max() < 0.1 and np.abs(error).max() < 0.8


# ------------------------------------------------------------------------------------------------ messages

def test_stamps_round_trip_exactly():
    stamp = seconds_to_stamp(12.25)
    assert (stamp.sec, stamp.nanosec) == (12, 250_000_000)
    later = add_seconds(stamp, 0.8)
    assert (later.sec, later.nanosec) == (13, 50_000_000) and stamp_to_seconds(later) == pytest.approx(13.05)


def test_trajectory_and_reaction_messages_follow_the_conventions(library_features):
    features = library_features["wave_back"]
    motion = solve_human(features)
    stamp = seconds_to_stamp(1_700_000_000.123456789)
    trajectory = joint_trajectory_message(motion, stamp, lead_in_s=0.05)
    assert list(trajectory.joint_names) == list(DOF_NAMES) and trajectory.header.stamp == stamp
    times = [stamp_to_seconds(p.time_from_start) for p in trajectory.points]
    assert len(times) == motion.length and times[0] == pytest.approx(0.05) and np.all(np.diff(times) > 0)
    assert all(len(p.positions) == len(p.velocities) == 63 and not p.effort for p in trajectory.points)
    assert list(trajectory.points[-1].velocities) == [0.0] * 63
    msg = reaction_message(motion, features, stamp, "hero_reactor", stamp, stamp, "m", 0.1)
    joints, feats = reaction_arrays(msg)
    np.testing.assert_allclose(joints, motion.joints, atol=1e-6)
    np.testing.assert_allclose(feats, features, atol=1e-6)
    assert list(msg.joint_names) == list(JOINT_NAMES) and len(msg.root_trajectory) == motion.length


# ------------------------------------------------------------------------------------------------ parameters, launch

def test_react_yaml_lists_every_parameter_with_its_default():
    config = yaml.safe_load((ROOT / "hero_ros" / "config" / "react.yaml").read_text())
    values = config["/**"]["ros__parameters"]
    assert list(values) == [spec.name for spec in params.PARAMS]
    for spec in params.PARAMS:
        assert values[spec.name] == spec.default and type(values[spec.name]) is spec.kind, spec.name


@pytest.mark.parametrize("name, value, words", [
    ("period_s", -1.0, "period_s=-1.0: must lie in"), ("period_s", "5", "must be a number"),
    ("period_s", True, "must be a number"), ("min_frames", 2.0, "must be an integer"),
    ("seed", -2, "must lie in \\[-1, 2147483647\\]"), ("reliable", "yes", "true or false"),
    ("device", "tpu", "auto, cpu, cuda or cuda:N"), ("input_type", "video", "one of auto, raw, compressed"),
    ("trigger", "sometimes", "unknown mode"), ("window_s", math.nan, "must lie in"),
    ("image_topic", " ", "must not be empty"),
])
def test_bad_parameter_values_are_refused_with_a_message(name, value, words):
    with pytest.raises(ValueError, match=words):
        params.validate(name, value)


def test_float_parameters_accept_integers():
    assert params.validate("period_s", 5) == 5.0 and type(params.validate("period_s", 5)) is float
    assert params.validate("device", "cuda:1") == "cuda:1"


def test_launch_file_compiles_and_types_its_numeric_arguments():
    path = ROOT / "launch" / "react.launch.py"
    py_compile.compile(str(path), cfile=str(Path(tempfile.mkdtemp()) / "launch.pyc"), doraise=True)
    module = SimpleNamespace(**runpy.run_path(str(path)))  # launch / launch_ros are imported only when launching
    overrides = module.parameter_overrides({"camera_topic": "/zed/image", "period_s": "5", "window_s": "",
                                            "checkpoint": "/models/hero"})
    assert overrides == {"image_topic": "/zed/image", "period_s": 5.0, "model_dir": "/models/hero"}
    assert type(overrides["period_s"]) is float
    for parameter, _ in module.OVERRIDES.values():
        assert parameter in params.SPECS
    with pytest.raises(ValueError, match="period_s:='soon' is not a float"):
        module.parameter_overrides({"period_s": "soon"})


# ------------------------------------------------------------------------------------------------ spin thread

def test_spin_thread_runs_callbacks_and_stops_before_the_node_is_destroyed():
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from hero_ros.spin_thread import SpinThread

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = Node("spin_thread_test", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        ticked = threading.Event()
        node.create_timer(0.01, ticked.set)
        spinner = SpinThread(executor, "test-spin", slice_s=0.05)
        assert ticked.wait(5.0)                        # callbacks run in the thread
        assert spinner.stop(timeout=2.0)               # and it finishes within a slice or two of being asked
        assert not spinner._thread.is_alive()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


# --- diagnostics --------------------------------------------------------------------------------------------------
def test_throttled_log_reports_warnings_and_errors_through_one_rclpy_logger():
    from rclpy.logging import get_logger

    from hero_ros.diagnostics import ThrottledLog

    # rclpy refuses a source line that logs at one severity and then at another; a node that had warned once and
    # then logged a callback error died of that at shutdown
    log = ThrottledLog(get_logger("hero_test_throttled_log"), period_s=0.0)
    assert log.warn("frame", "a corrupt frame") and log.error("callback", "a callback failed")
    assert log.warn("frame", "another corrupt frame") and log.error("callback", "it failed again")
    with pytest.raises(ValueError, match="level"):
        log.log("x", "message", "debug")


class _RecordingLogger:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def warning(self, text):
        self.lines.append(("warning", text))

    def error(self, text):
        self.lines.append(("error", text))


def test_a_failing_callback_is_logged_unless_the_context_has_shut_down():
    import rclpy

    from hero_ros.diagnostics import ThrottledLog, survives

    class Owner:
        def __init__(self, context):
            self.context, self.warn = context, ThrottledLog(_RecordingLogger(), period_s=0.0)

        @survives
        def publish(self):
            raise RuntimeError("publisher's context is invalid")

    context = rclpy.Context()
    context.init()
    owner = Owner(context)
    assert owner.publish() is None                                    # the exception does not escape
    assert [level for level, _ in owner.warn.logger.lines] == ["error"]
    assert "publish failed: RuntimeError: publisher's context is invalid" in owner.warn.logger.lines[0][1]
    context.shutdown()
    owner.publish()                                                   # the stop racing a timer: not an error
    assert len(owner.warn.logger.lines) == 1
