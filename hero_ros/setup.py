"""ament_python package of the HERO-ROS reaction node (colcon build on a ROS 2 install, or pip install -e)."""
from glob import glob

from setuptools import find_packages, setup

package_name = "hero_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="HERO-ROS developers",
    maintainer_email="hero-ros@example.org",
    description="ROS 2 node that generates human reactions (HERO) from an egocentric camera stream.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "react = hero_ros.react_node:main",        # ros2 run hero_ros react
            "hero-react = hero_ros.react_node:main",   # the pip environment: .venv/bin/hero-react
            "sim = hero_ros.sim_node:main",            # ros2 run hero_ros sim (Unitree G1 in MuJoCo)
            "hero-sim = hero_ros.sim_node:main",       # the pip environment: .venv/bin/hero-sim
        ],
    },
)
